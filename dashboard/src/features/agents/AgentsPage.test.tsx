import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";

import { SESSION, fakeApi, renderWithQuery } from "../../test/render";
import { AgentsPage } from "./AgentsPage";

const AGENT = {
  agent_id: "agt_1",
  name: "billing-bot",
  description: null,
  client_id: "cli_billing",
  status: "ACTIVE",
  created_at: "2026-12-01T10:00:00Z",
  secret_rotated_at: null,
  disabled_at: null,
  last_used_at: "2026-12-02T08:30:00Z",
  token_endpoint_auth_method: "client_secret_basic",
  keys_rotated_at: null,
  jwks_uri: null,
  federated: null,
};
const SECRET = "vgs_s3cr3t-only-once";

function api() {
  return fakeApi({
    "GET /auth/session": { body: SESSION },
    "GET /agents": { body: { agents: [AGENT] } },
    "POST /agents": { status: 201, body: { ...AGENT, agent_id: "agt_2", name: "stock-bot", client_secret: SECRET } },
    "POST /agents/agt_1/rotate-secret": { body: { ...AGENT, client_secret: "vgs_rotated" } },
  });
}

describe("the agents page", () => {
  it("shows a new agent's secret once, copies it, and forgets it when closed", async () => {
    const { calls } = api();
    const user = userEvent.setup(); // with a clipboard of its own
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={client}>
        <AgentsPage rest={[]} />
      </QueryClientProvider>,
    );
    expect(await screen.findByRole("rowheader", { name: "billing-bot" })).toBeTruthy();

    await user.type(screen.getByLabelText("Name"), "stock-bot");
    await user.click(screen.getByRole("button", { name: "Register agent" }));
    const panel = await screen.findByRole("dialog", { name: "Copy the secret of “stock-bot” now" });
    expect(within(panel).getByText(SECRET)).toBeTruthy();
    expect(within(panel).getByText(/you will not see it again/)).toBeTruthy();
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ name: "stock-bot" });

    await user.click(within(panel).getByRole("button", { name: "Copy client secret" }));
    expect(await navigator.clipboard.readText()).toBe(SECRET);
    expect(within(panel).getByRole("status").textContent).toBe("Client secret copied to the clipboard.");

    await user.click(within(panel).getByRole("button", { name: "Done" }));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(document.body.textContent).not.toContain(SECRET);
    const cached = () =>
      JSON.stringify([client.getQueryCache().getAll().map((q) => q.state.data), client.getMutationCache().getAll().map((m) => m.state.data)]);
    await waitFor(() => expect(cached()).not.toContain(SECRET));
    expect(cached()).toContain("billing-bot");
  });

  it("rotates a secret after confirmation, and says how to copy by hand when the clipboard refuses", async () => {
    api();
    const user = userEvent.setup();
    vi.spyOn(navigator.clipboard, "writeText").mockRejectedValue(new DOMException("denied", "NotAllowedError"));
    renderWithQuery(<AgentsPage rest={[]} />);
    await user.click(await screen.findByRole("button", { name: "Rotate secret of billing-bot" }));
    await user.click(screen.getByRole("button", { name: "Rotate secret" }));
    const panel = await screen.findByRole("dialog", { name: "Copy the new secret of “billing-bot” now" });
    await user.click(within(panel).getByRole("button", { name: "Copy client secret" }));
    expect(within(panel).getByRole("status").textContent).toMatch(/did not let the page copy\. Select the client secret/);
    expect(within(panel).getByText("vgs_rotated")).toBeTruthy();
  });

  it("asks for a name before registering", async () => {
    const { calls } = api();
    const user = userEvent.setup();
    renderWithQuery(<AgentsPage rest={[]} />);
    await user.click(await screen.findByRole("button", { name: "Register agent" }));
    expect(screen.getByRole("alert").textContent).toBe("Give the agent a name.");
    expect(screen.getByLabelText("Name").getAttribute("aria-invalid")).toBe("true");
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);
  });
});
