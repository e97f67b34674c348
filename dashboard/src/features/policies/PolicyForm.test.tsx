import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { fakeApi, renderWithQuery, SESSION } from "../../test/render";
import type { Policy } from "./api";
import { PolicyForm } from "./PolicyForm";

const MEDICORE = "tnt_0123456789abcdef0123";
const SAVED: Policy = {
  policy_id: "pol_1",
  action: "stock.*",
  effect: "BLOCK",
  requesting_tenant_id: null,
  ttl_seconds: 600,
  stepup_expiry_seconds: 120,
  require_dpop: true,
  require_private_key_jwt: false,
  created_at: "2026-12-03T10:00:00Z",
  updated_at: null,
};

describe("the policy form", () => {
  it("says what is wrong beside each field and sends nothing", async () => {
    const api = fakeApi({});
    renderWithQuery(<PolicyForm editing={null} onSaved={vi.fn()} onCancel={vi.fn()} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Action"), "Stock Write");
    await user.type(screen.getByLabelText("Requesting tenant id"), "medicore");
    await user.clear(screen.getByLabelText("Maximum token lifetime (seconds)"));
    await user.type(screen.getByLabelText("Maximum token lifetime (seconds)"), "5");
    await user.click(screen.getByRole("button", { name: "Create policy" }));

    const action = screen.getByLabelText("Action");
    expect(action.getAttribute("aria-invalid")).toBe("true");
    expect(document.activeElement).toBe(action);
    expect(screen.getByLabelText("Action").getAttribute("aria-describedby")).toContain("error");
    expect(screen.getByText(/Enter an action such as stock.write/)).toBeTruthy();
    expect(screen.getByText(/tnt_ followed by 20 hexadecimal digits/)).toBeTruthy();
    expect(screen.getByText("The maximum token lifetime must be a whole number of seconds from 60 to 86400.")).toBeTruthy();
    expect(api.calls).toEqual([]);
  });

  it("sends a wildcard policy for any organisation as PUT /policies with the CSRF token", async () => {
    const api = fakeApi({
      "GET /auth/session": { body: SESSION },
      "PUT /policies": { status: 201, body: SAVED },
    });
    const onSaved = vi.fn();
    renderWithQuery(<PolicyForm editing={null} onSaved={onSaved} onCancel={vi.fn()} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Action"), "stock.*");
    await user.click(screen.getByRole("radio", { name: /BLOCK/ }));
    await user.click(screen.getByRole("radio", { name: "Any organisation" }));
    await user.clear(screen.getByLabelText("Maximum token lifetime (seconds)"));
    await user.type(screen.getByLabelText("Maximum token lifetime (seconds)"), "600");
    await user.clear(screen.getByLabelText("Step-up expiry (seconds)"));
    await user.type(screen.getByLabelText("Step-up expiry (seconds)"), "120");
    await user.click(screen.getByRole("checkbox", { name: /Require key-based agents/ }));
    await user.click(screen.getByRole("button", { name: "Create policy" }));

    await vi.waitFor(() => expect(onSaved).toHaveBeenCalledWith(SAVED));
    const put = api.calls.find((c) => c.method === "PUT");
    expect(put?.body).toEqual({
      action: "stock.*",
      effect: "BLOCK",
      requesting_tenant_id: null,
      ttl_seconds: 600,
      stepup_expiry_seconds: 120,
      require_dpop: false,
      require_private_key_jwt: true,
    });
    const init = vi.mocked(fetch).mock.calls.find(([, i]) => i?.method === "PUT")?.[1];
    expect(new Headers(init?.headers).get("X-CSRF-Token")).toBe("csrf-test");
    expect((screen.getByLabelText("Action") as HTMLInputElement).value).toBe("");
  });

  it("shows the API's refusal beside the form", async () => {
    fakeApi({
      "GET /auth/session": { body: SESSION },
      "PUT /policies": {
        status: 400,
        body: { error: "invalid_request", error_description: "The tenant has too many policies." },
      },
    });
    const onSaved = vi.fn();
    renderWithQuery(<PolicyForm editing={null} onSaved={onSaved} onCancel={vi.fn()} />);
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Action"), "stock.write");
    await user.type(screen.getByLabelText("Requesting tenant id"), MEDICORE);
    await user.click(screen.getByRole("button", { name: "Create policy" }));

    expect((await screen.findByRole("alert")).textContent).toBe(
      "VaultGuard refused the policy: The tenant has too many policies.",
    );
    expect(onSaved).not.toHaveBeenCalled();
    expect((screen.getByLabelText("Action") as HTMLInputElement).value).toBe("stock.write");
  });

  it("edits a policy's effect and timings but not what identifies it", async () => {
    const api = fakeApi({
      "GET /auth/session": { body: SESSION },
      "PUT /policies": { body: { ...SAVED, effect: "STEP_UP" } },
    });
    renderWithQuery(<PolicyForm editing={SAVED} onSaved={vi.fn()} onCancel={vi.fn()} />);
    const user = userEvent.setup();
    expect((screen.getByLabelText("Action") as HTMLInputElement).readOnly).toBe(true);
    expect(screen.getByRole("radio", { name: "Any organisation" }).matches(":disabled")).toBe(true);
    expect((screen.getByRole("checkbox", { name: /Require DPoP-bound/ }) as HTMLInputElement).checked).toBe(true);
    await user.click(screen.getByRole("radio", { name: /STEP_UP/ }));
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    await vi.waitFor(() => expect(api.calls.some((c) => c.method === "PUT")).toBe(true));
    expect(api.calls.find((c) => c.method === "PUT")?.body).toMatchObject({
      action: "stock.*",
      effect: "STEP_UP",
      requesting_tenant_id: null,
      require_dpop: true, // kept as it was
      require_private_key_jwt: false,
    });
  });
});
