import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { fakeApi, renderWithQuery, SESSION } from "../../test/render";
import type { Evaluation } from "./api";
import { EvaluatePanel } from "./EvaluatePanel";

const MEDICORE = "tnt_0123456789abcdef0123";
const STEP_UP: Evaluation = {
  decision: "STEP_UP",
  explanation: "The most specific matching policy, 'requisition.*' for this requesting tenant, decides STEP_UP.",
  policy: {
    policy_id: "pol_9",
    action: "requisition.*",
    effect: "STEP_UP",
    requesting_tenant_id: MEDICORE,
    ttl_seconds: 3600,
    stepup_expiry_seconds: 300,
    require_dpop: false,
    require_private_key_jwt: false,
    created_at: "2026-12-03T10:00:00Z",
    updated_at: null,
  },
  granted_ttl_seconds: 3600,
};

async function ask(requester: string, action: string) {
  const user = userEvent.setup();
  await user.type(screen.getByLabelText("Requesting tenant id"), requester);
  await user.type(screen.getByLabelText("Action"), action);
  await user.click(screen.getByRole("button", { name: "Evaluate" }));
}

describe("what would happen", () => {
  it("shows the decision, the explanation and the deciding policy, and reports it", async () => {
    const api = fakeApi({ "GET /auth/session": { body: SESSION }, "POST /policies/evaluate": { body: STEP_UP } });
    const onAnswer = vi.fn();
    renderWithQuery(<EvaluatePanel onAnswer={onAnswer} />);
    await ask(MEDICORE, "requisition.submit");

    await vi.waitFor(() => expect(onAnswer).toHaveBeenCalledWith(STEP_UP));
    const status = screen.getByRole("status");
    expect(status.textContent).toContain("Decision: STEP_UP");
    expect(status.textContent).toContain(STEP_UP.explanation);
    expect(status.textContent).toContain(`Deciding policy: requisition.* from ${MEDICORE} (STEP_UP)`);
    expect(api.calls.find((c) => c.method === "POST")?.body).toEqual({
      requesting_tenant_id: MEDICORE,
      action: "requisition.submit",
    });
  });

  it("says that no policy decides when none matches", async () => {
    fakeApi({
      "GET /auth/session": { body: SESSION },
      "POST /policies/evaluate": { body: { decision: "BLOCK", policy: null, explanation: "No policy matches 'x.y'." } },
    });
    renderWithQuery(<EvaluatePanel onAnswer={vi.fn()} />);
    await ask(MEDICORE, "x.y");
    await screen.findByText("Decision:", { exact: false });
    expect(screen.getByRole("status").textContent).toContain("Decision: BLOCK");
    expect(screen.getByText(/No policy decides/)).toBeTruthy();
  });

  it("refuses a wildcard or a malformed tenant before asking", async () => {
    const api = fakeApi({});
    renderWithQuery(<EvaluatePanel onAnswer={vi.fn()} />);
    await ask("medicore", "stock.*");
    expect(screen.getByText(/tnt_ followed by 20 hexadecimal digits/)).toBeTruthy();
    expect(screen.getByText(/no wildcard/)).toBeTruthy();
    expect(screen.getByRole("status").textContent).toBe("");
    expect(api.calls).toEqual([]);
  });

  it("shows the API's refusal as an alert", async () => {
    fakeApi({
      "GET /auth/session": { body: SESSION },
      "POST /policies/evaluate": { status: 403, body: { error: "forbidden", error_description: "Admins only." } },
    });
    const onAnswer = vi.fn();
    renderWithQuery(<EvaluatePanel onAnswer={onAnswer} />);
    await ask(MEDICORE, "stock.write");
    expect((await screen.findByRole("alert")).textContent).toBe("VaultGuard could not evaluate this: Admins only.");
    expect(onAnswer).toHaveBeenCalledWith(null);
  });
});
