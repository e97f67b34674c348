import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { fakeApi, renderWithQuery, SESSION } from "../../test/render";
import type { Agent } from "./api";
import { AgentsPage } from "./AgentsPage";
import { checkKeys } from "./keys";

const SECRET_AGENT: Agent = {
  agent_id: "agt_1",
  name: "billing-bot",
  description: null,
  client_id: "cli_billing",
  status: "ACTIVE",
  created_at: "2026-12-01T10:00:00Z",
  secret_rotated_at: null,
  disabled_at: null,
  last_used_at: null,
  token_endpoint_auth_method: "client_secret_basic",
  keys_rotated_at: null,
  jwks_uri: null,
  federated: null,
};
const KEYED: Agent = {
  ...SECRET_AGENT,
  agent_id: "agt_2",
  name: "stock-bot",
  client_id: "cli_stock",
  token_endpoint_auth_method: "private_key_jwt",
};
const PUBLIC_JWK = { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" };

function api() {
  return fakeApi({
    "GET /auth/session": { body: SESSION },
    "GET /agents": { body: { agents: [SECRET_AGENT, KEYED] } },
    "POST /agents": { status: 201, body: KEYED },
    "PUT /agents/agt_1/keys": { body: { ...SECRET_AGENT, token_endpoint_auth_method: "private_key_jwt" } },
  });
}

async function paste(user: ReturnType<typeof userEvent.setup>, text: string) {
  const field = screen.getByLabelText("Public key (JWK or JWK set)");
  await user.click(field);
  await user.paste(text);
}

describe("key-based agents", () => {
  it("says how each agent signs in, and offers the move to keys only to secret-based ones", async () => {
    api();
    renderWithQuery(<AgentsPage rest={[]} />);
    const secretRow = (await screen.findByRole("rowheader", { name: "billing-bot" })).closest("tr");
    const keyedRow = screen.getByRole("rowheader", { name: "stock-bot" }).closest("tr");
    expect(secretRow?.textContent).toContain("Client secret");
    expect(keyedRow?.textContent).toContain("Registered keys");
    expect(screen.getByRole("button", { name: "Move to keys: billing-bot" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Move to keys: stock-bot" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Rotate secret of stock-bot" })).toBeNull();
  });

  it("registers an agent with a pasted public key: no secret to show", async () => {
    const { calls } = api();
    const user = userEvent.setup();
    renderWithQuery(<AgentsPage rest={[]} />);
    await screen.findByRole("rowheader", { name: "billing-bot" });
    await user.type(screen.getByLabelText("Name"), "stock-bot");
    await user.click(screen.getByRole("radio", { name: "Paste its public key" }));
    await paste(user, JSON.stringify(PUBLIC_JWK));
    await user.click(screen.getByRole("button", { name: "Register agent" }));

    expect((await screen.findByText(/stock-bot is registered; it signs in with its key/)).textContent).toContain(
      "cli_stock",
    );
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ name: "stock-bot", jwks: { keys: [PUBLIC_JWK] } });
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("refuses a pasted private key and sends nothing", async () => {
    const { calls } = api();
    const user = userEvent.setup();
    renderWithQuery(<AgentsPage rest={[]} />);
    await screen.findByRole("rowheader", { name: "billing-bot" });
    await user.type(screen.getByLabelText("Name"), "leaky-bot");
    await user.click(screen.getByRole("radio", { name: "Paste its public key" }));
    await paste(user, JSON.stringify({ ...PUBLIC_JWK, d: "private-part" }));
    await user.click(screen.getByRole("button", { name: "Register agent" }));

    expect(screen.getByRole("alert").textContent).toMatch(/This is a private key/);
    expect(screen.getByLabelText("Public key (JWK or JWK set)").getAttribute("aria-invalid")).toBe("true");
    expect(calls.filter((c) => c.method === "POST")).toEqual([]);
  });

  it("moves a secret-based agent to keys after a confirmation", async () => {
    const { calls } = api();
    const user = userEvent.setup();
    renderWithQuery(<AgentsPage rest={[]} />);
    await user.click(await screen.findByRole("button", { name: "Move to keys: billing-bot" }));
    const form = screen.getByRole("form", { name: "Move “billing-bot” to keys" });
    expect(document.activeElement).toBe(within(form).getByRole("heading"));
    await user.click(within(form).getByRole("radio", { name: "Its key set URL" }));
    await user.type(within(form).getByLabelText("Key set URL (jwks_uri)"), "https://billing.example/jwks.json");
    await user.click(within(form).getByRole("button", { name: "Move to keys" }));

    const dialog = await screen.findByRole("dialog", { name: "Stop the client secret of “billing-bot”?" });
    expect(calls.filter((c) => c.method === "PUT")).toEqual([]); // nothing before the confirmation
    await user.click(within(dialog).getByRole("button", { name: "Move to keys" }));
    expect(await screen.findByText(/billing-bot now signs in with its key; its client secret no longer works/)).toBeTruthy();
    expect(calls.find((c) => c.method === "PUT")?.body).toEqual({ jwks_uri: "https://billing.example/jwks.json" });
  });

  it("checks pasted keys as the API does", () => {
    expect(checkKeys("jwks", JSON.stringify({ keys: [PUBLIC_JWK] }))).toEqual({ body: { jwks: { keys: [PUBLIC_JWK] } } });
    expect(checkKeys("jwks", "not json")).toHaveProperty("error");
    expect(checkKeys("jwks", JSON.stringify({ kty: "oct", k: "c2VjcmV0" }))).toHaveProperty("error");
    expect(checkKeys("uri", "ftp://x")).toHaveProperty("error");
  });
});
