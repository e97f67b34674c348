import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { SESSION, fakeApi, renderWithQuery } from "../../test/render";
import { goToProvider } from "./api";
import { ConnectionsPage } from "./ConnectionsPage";

vi.mock("./api", async (original) => ({ ...(await original<typeof import("./api")>()), goToProvider: vi.fn() }));

const AGENT = "agt_0123456789abcdef0123";
const OTHER_AGENT = "agt_fedcba9876543210fedc";
const ACTIVE = {
  connection_id: "con_0123456789abcdef0123",
  provider: "local-google",
  label: "Clinic calendar",
  status: "active",
  status_reason: null,
  client: "platform",
  provider_account: { sub: "local|medicore_admin", email: "admin@medicore.example" },
  requested_scopes: ["openid", "email", "calendar.readonly", "gmail.readonly"],
  granted_scopes: ["openid", "email", "calendar.readonly"],
  missing_scopes: ["gmail.readonly"],
  allowed_scopes: ["calendar.readonly"],
  agent_ids: [AGENT],
  created_at: "2026-12-01T10:00:00Z",
  created_by: "usr_1",
  connected_at: "2026-12-01T10:01:00Z",
  connected_by: "usr_1",
  updated_at: null,
  last_refresh_at: "2026-12-02T08:00:00Z",
  last_used_at: null,
  superseded_by: null,
  deleted_at: null,
};
const REVOKED = {
  ...ACTIVE,
  connection_id: "con_aaaaaaaaaaaaaaaaaaaa",
  label: "Front desk mail",
  status: "needs_reauth",
  status_reason: "invalid_grant",
  provider_account: { sub: "local|desk", email: "desk@medicore.example" },
  requested_scopes: ["email", "gmail.readonly"],
  granted_scopes: ["email", "gmail.readonly"],
  missing_scopes: [],
  allowed_scopes: ["gmail.readonly"],
  agent_ids: [AGENT, OTHER_AGENT],
};
const PROVIDERS = {
  providers: [{ provider: "local-google", kind: "oidc", client: "platform", scopes: ["openid", "email", "calendar.readonly", "gmail.readonly"], client_id: null }],
};
const agent = (agent_id: string, name: string, status = "ACTIVE") => ({
  agent_id,
  name,
  description: null,
  client_id: `cli_${name}`,
  status,
  created_at: 1764583200,
  secret_rotated_at: null,
  last_used_at: null,
});
const AGENTS = { agents: [agent(AGENT, "MediCore agent"), agent(OTHER_AGENT, "Billing agent"), agent("agt_99999999999999999999", "Old bot", "DISABLED")] };
const AUTHORIZE = "http://127.0.0.1:9000/google/auth?client_id=vaultguard&state=x";

function api(extra: Parameters<typeof fakeApi>[0] = {}, connections: unknown[] = [ACTIVE, REVOKED]) {
  return fakeApi({
    "GET /auth/session": { body: { ...SESSION, tenant_name: "MediCore" } },
    "GET /vault/connections": { body: { connections } },
    "GET /vault/providers": { body: PROVIDERS },
    "GET /agents": { body: AGENTS },
    ...extra,
  });
}

function card(name: string): HTMLElement {
  return screen.getByRole("listitem", { name: new RegExp(`^${name}`) });
}

beforeEach(() => {
  window.history.replaceState(null, "", "/dashboard/connections");
  vi.mocked(goToProvider).mockClear();
});
afterEach(() => vi.unstubAllGlobals());

describe("the connections page", () => {
  it("shows each connection's account, health in words, scopes and agents by name, never a token", async () => {
    api();
    renderWithQuery(<ConnectionsPage rest={[]} />);
    expect(await screen.findByRole("heading", { name: "Connected accounts (2)" })).toBeTruthy();

    const active = card("local-google — Clinic calendar");
    expect(within(active).getByText("admin@medicore.example")).toBeTruthy();
    expect(within(active).getByText("Active")).toBeTruthy();
    expect(within(active).getByText("openid, email, calendar.readonly")).toBeTruthy();
    expect(within(active).getByText("gmail.readonly")).toBeTruthy(); // asked for, not granted
    expect(within(active).getByText("MediCore agent")).toBeTruthy();
    expect(within(active).queryByRole("button", { name: /^Reconnect/ })).toBeNull();

    const revoked = card("local-google — Front desk mail");
    expect(within(revoked).getByText("Needs reconnecting")).toBeTruthy();
    expect(within(revoked).getByText("The account's access was revoked or expired at the provider; reconnect it.")).toBeTruthy();
    expect(within(revoked).getByText("MediCore agent, Billing agent")).toBeTruthy();
    expect(document.body.textContent).not.toMatch(/token_|ya29|refresh_token/);
  });

  it("announces and highlights the connection the provider sent the browser back for, then cleans the address", async () => {
    window.history.replaceState(null, "", `/dashboard/connections?connected=${ACTIVE.connection_id}`);
    api();
    renderWithQuery(<ConnectionsPage rest={[]} />);
    const status = await screen.findByText("Connected local-google “Clinic calendar” (admin@medicore.example).");
    expect(status.getAttribute("role")).toBe("status");
    expect(card("local-google — Clinic calendar").className).toContain("just-connected");
    expect(within(card("local-google — Clinic calendar")).getByText("(just connected)")).toBeTruthy();
    expect(window.location.pathname + window.location.search).toBe("/dashboard/connections");
  });

  it("explains a failed return from the provider in words", async () => {
    window.history.replaceState(null, "", "/dashboard/connections?error=access_denied");
    api();
    renderWithQuery(<ConnectionsPage rest={[]} />);
    expect((await screen.findByRole("alert")).textContent).toBe(
      "Consent was declined or cancelled at the provider, so nothing was connected.",
    );
    expect(window.location.search).toBe("");
  });

  it("connects: the chosen scopes and agents are sent, then the browser goes to the provider", async () => {
    const { calls } = api({
      "POST /vault/connect": { status: 201, body: { connection_id: "con_bbbbbbbbbbbbbbbbbbbb", authorize_url: AUTHORIZE, expires_at: "2030-01-01T00:00:00Z" } },
    });
    const user = userEvent.setup();
    renderWithQuery(<ConnectionsPage rest={[]} />);
    const form = await screen.findByRole("form", { name: "Connect an account" });
    await within(form).findByLabelText("Provider");
    const scopes = within(form).getByRole("group", { name: "Scopes to ask for" });
    expect((within(scopes).getByLabelText("email") as HTMLInputElement).checked).toBe(true);
    await user.click(within(scopes).getByLabelText("calendar.readonly"));
    await user.type(within(form).getByLabelText("Label (optional)"), "Clinic calendar");
    const agents = within(form).getByRole("group", { name: "Agents allowed to use it" });
    expect(within(agents).queryByLabelText("Old bot")).toBeNull(); // a disabled agent cannot be allowed
    await user.click(within(agents).getByLabelText("MediCore agent"));
    await user.click(within(form).getByRole("button", { name: "Connect local-google" }));

    expect(vi.mocked(goToProvider)).toHaveBeenCalledWith(AUTHORIZE);
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({
      provider: "local-google",
      scopes: ["openid", "email", "calendar.readonly"],
      agent_ids: [AGENT],
      label: "Clinic calendar",
    });
  });

  it("asks for at least one scope, and shows the API's refusal", async () => {
    const { calls } = api({
      "POST /vault/connect": { status: 400, body: { error: "invalid_scope", error_description: "Not offered by local-google: x." } },
    });
    const user = userEvent.setup();
    renderWithQuery(<ConnectionsPage rest={[]} />);
    const form = await screen.findByRole("form", { name: "Connect an account" });
    const scopes = await within(form).findByRole("group", { name: "Scopes to ask for" });
    await user.click(within(scopes).getByLabelText("openid"));
    await user.click(within(scopes).getByLabelText("email"));
    await user.click(within(form).getByRole("button", { name: "Connect local-google" }));
    expect(within(form).getByRole("alert").textContent).toBe("Choose at least one scope to ask for.");
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);

    await user.click(within(scopes).getByLabelText("gmail.readonly"));
    await user.click(within(form).getByRole("button", { name: "Connect local-google" }));
    expect((await within(form).findByRole("alert")).textContent).toBe("Nothing was connected: Not offered by local-google: x.");
    expect(goToProvider).not.toHaveBeenCalled();
  });

  it("reconnects a connection the provider stopped honouring with the same provider, scopes and agents", async () => {
    const { calls } = api({
      "POST /vault/connect": { status: 201, body: { connection_id: "con_cccccccccccccccccccc", authorize_url: AUTHORIZE, expires_at: "2030-01-01T00:00:00Z" } },
    });
    const user = userEvent.setup();
    renderWithQuery(<ConnectionsPage rest={[]} />);
    await screen.findByRole("heading", { name: "Connected accounts (2)" });
    await user.click(
      within(card("local-google — Front desk mail")).getByRole("button", {
        name: "Reconnect local-google “Front desk mail” (desk@medicore.example)",
      }),
    );
    expect(vi.mocked(goToProvider)).toHaveBeenCalledWith(AUTHORIZE);
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({
      provider: "local-google",
      scopes: ["email", "gmail.readonly"],
      agent_ids: [AGENT, OTHER_AGENT],
      label: "Front desk mail",
    });
  });

  it("changes the allowed agents and scopes within those granted", async () => {
    const { calls } = api({ "PATCH /vault/connections/con_0123456789abcdef0123": (body) => ({ body: { ...ACTIVE, ...(body as object) } }) });
    const user = userEvent.setup();
    renderWithQuery(<ConnectionsPage rest={[]} />);
    await screen.findByRole("heading", { name: "Connected accounts (2)" });
    await user.click(within(card("local-google — Clinic calendar")).getByRole("button", { name: /^Edit/ }));
    const dialog = screen.getByRole("dialog", { name: "Edit local-google “Clinic calendar” (admin@medicore.example)" });
    const scopes = within(dialog).getByRole("group", { name: "Scopes agents may ask for" });
    expect(within(scopes).queryByLabelText("gmail.readonly")).toBeNull(); // not granted: not offered
    await user.click(within(scopes).getByLabelText("email"));
    await user.click(within(within(dialog).getByRole("group", { name: "Agents allowed to use it" })).getByLabelText("Billing agent"));
    await user.click(within(dialog).getByRole("button", { name: "Save changes" }));
    expect((await screen.findByRole("status")).textContent).toBe(
      "Saved the changes to local-google “Clinic calendar” (admin@medicore.example).",
    );
    expect(calls.find((c) => c.method === "PATCH")?.body).toEqual({
      agent_ids: [AGENT, OTHER_AGENT],
      allowed_scopes: ["email", "calendar.readonly"],
    });
  });

  it("deletes only after a confirmation that says what the agents lose", async () => {
    const { calls } = api({
      "DELETE /vault/connections/con_aaaaaaaaaaaaaaaaaaaa": { body: { connection_id: REVOKED.connection_id, status: "deleted", provider_revocation: "revoked" } },
    });
    const user = userEvent.setup();
    renderWithQuery(<ConnectionsPage rest={[]} />);
    await screen.findByRole("heading", { name: "Connected accounts (2)" });
    await user.click(within(card("local-google — Front desk mail")).getByRole("button", { name: /^Delete/ }));
    const dialog = screen.getByRole("dialog", { name: "Delete local-google “Front desk mail” (desk@medicore.example)?" });
    expect(dialog.textContent).toContain("revokes its grant at local-google");
    expect(dialog.textContent).toContain("(MediCore agent, Billing agent) lose access at once");
    await user.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(calls.filter((c) => c.method === "DELETE")).toEqual([]);

    await user.click(within(card("local-google — Front desk mail")).getByRole("button", { name: /^Delete/ }));
    await user.click(screen.getByRole("button", { name: "Delete connection" }));
    expect((await screen.findByRole("status")).textContent).toBe(
      "Deleted local-google “Front desk mail” (desk@medicore.example); its access was revoked at the provider.",
    );
    expect(calls.filter((c) => c.method === "DELETE")).toHaveLength(1);
  });

  it("checks a connection now and says what the provider answered", async () => {
    let answer: { status: number; body: unknown } = {
      status: 200,
      body: { ...ACTIVE, status: "needs_reauth", status_reason: "invalid_grant" },
    };
    const { calls } = api({ "POST /vault/connections/con_0123456789abcdef0123/check": () => answer });
    const user = userEvent.setup();
    renderWithQuery(<ConnectionsPage rest={[]} />);
    await screen.findByRole("heading", { name: "Connected accounts (2)" });
    const name = "local-google “Clinic calendar” (admin@medicore.example)";
    expect(within(card("local-google — Front desk mail")).queryByRole("button", { name: /^Check/ })).toBeNull();
    await user.click(screen.getByRole("button", { name: `Check now ${name}` }));
    expect((await screen.findByText(/^Checked /)).textContent).toBe(
      `Checked ${name}: needs reconnecting. The account's access was revoked or expired at the provider; reconnect it.`,
    );

    answer = { status: 503, body: { error: "temporarily_unavailable", error_description: "The provider is unavailable; retry." } };
    await user.click(screen.getByRole("button", { name: `Check now ${name}` }));
    expect((await screen.findByRole("alert")).textContent).toBe(`${name} could not be checked: The provider is unavailable; retry.`);
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(2);
  });
});
