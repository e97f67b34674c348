import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Delegation } from "../../api/client";
import { ACTIVE_DELEGATION } from "../../test/fixtures";
import { SESSION, fakeApi, renderWithQuery } from "../../test/render";
import type { AuditEvent } from "./api";
import { DelegationDetail } from "./DelegationDetail";

const ACTIVE = {
  ...ACTIVE_DELEGATION,
  purpose: "Restock ward 4",
  binding_message: "<img src=x onerror=alert(1)>",
} satisfies Delegation;

function event(type: string, at: string): AuditEvent {
  return {
    event_id: `evt_${type}`,
    tenant_id: "tnt_nat",
    occurred_at: at,
    type,
    actor: { type: "agent", id: "agt_1" },
    request_id: "req_1",
    delegation_id: "dlg_1",
  };
}

const AUDIT = "GET /audit?delegation_id=dlg_1&limit=200";
/** The "Requesting organisation" and "Receiving organisation" facts, once shown as `expected`. */
async function expectParties(expected: [string, string]): Promise<void> {
  const shown = () =>
    ["Requesting organisation", "Receiving organisation"].map(
      (term) => screen.queryByText(term)?.nextElementSibling?.textContent,
    );
  await waitFor(() => expect(shown()).toEqual(expected));
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("a delegation's detail", () => {
  it("shows its facts and timeline, and revokes it after a confirmation that says what stops", async () => {
    let revoked = false;
    const { calls } = fakeApi({
      "GET /auth/session": { body: SESSION },
      "GET /delegations/dlg_1": () => ({
        body: revoked ? { ...ACTIVE, status: "REVOKED", revoked_at: "2026-03-01T10:30:00Z", revoked_by: "usr_1" } : ACTIVE,
      }),
      "POST /delegations/dlg_1/revoke": () => {
        revoked = true;
        return { body: { ...ACTIVE, status: "REVOKED", revoked_at: "2026-03-01T10:30:00Z", revoked_by: "usr_1" } };
      },
      [AUDIT]: () => ({
        // newest first, as the API answers
        body: {
          events: [
            ...(revoked ? [event("delegation.revoked", "2026-03-01T10:30:00Z")] : []),
            event("token.issued", "2026-03-01T10:00:01Z"),
            event("delegation.allowed", "2026-03-01T10:00:00Z"),
          ],
          next_cursor: null,
        },
      }),
    });
    renderWithQuery(<DelegationDetail delegationId="dlg_1" />);

    expect(await screen.findByRole("heading", { level: 1, name: /stock\.write\s+ACTIVE/ })).toBeTruthy();
    await expectParties(["MediCore", "NatSupply"]);
    expect(screen.getByText("<img src=x onerror=alert(1)>")).toBeTruthy();
    expect(document.querySelector("img")).toBeNull();
    const timeline = await screen.findByRole("list");
    expect(within(timeline).getAllByRole("listitem").map((li) => li.textContent?.split(" ")[0])).toEqual([
      "delegation.allowed",
      "token.issued",
    ]);

    await userEvent.click(await screen.findByRole("button", { name: "Revoke" }));
    const dialog = screen.getByRole("dialog", { name: "Revoke this delegation?" });
    expect(dialog.textContent).toContain("MediCore's agent MediCore agent loses stock.write at NatSupply at once");
    await userEvent.click(within(dialog).getByRole("button", { name: "Revoke delegation" }));

    expect(await screen.findByRole("heading", { level: 1, name: /stock\.write\s+REVOKED/ })).toBeTruthy();
    expect((await screen.findByRole("status")).textContent).toBe("The delegation was revoked.");
    expect(screen.queryByRole("button", { name: "Revoke" })).toBeNull();
    expect(await screen.findByText("delegation.revoked")).toBeTruthy();
    expect(screen.getByText(/by usr_1/)).toBeTruthy();
    expect(calls.filter((c) => c.method === "POST").map((c) => [c.path, c.body])).toEqual([
      ["/delegations/dlg_1/revoke", undefined],
    ]);
    expect(calls.filter((c) => c.path.startsWith("/graph"))).toEqual([]); // the names come with it
  });

  it("names an outbound delegation's receiving organisation as recorded, or by id from before names were kept", async () => {
    const outbound = {
      ...ACTIVE,
      direction: "outbound",
      requesting_tenant_id: "natsupply",
      requesting_tenant_name: "NatSupply",
      receiving_tenant_id: "tnt_med",
      receiving_tenant_name: "MediCore",
    } satisfies Delegation;
    const routes = {
      "GET /auth/session": { body: { ...SESSION, tenant_name: "NatSupply (renamed)" } },
      "GET /delegations/dlg_1": { body: outbound },
      [AUDIT]: { body: { events: [], next_cursor: null } },
    };
    fakeApi(routes);
    const first = renderWithQuery(<DelegationDetail delegationId="dlg_1" />);
    await expectParties(["NatSupply (renamed)", "MediCore"]); // its own as the session says
    first.unmount();

    fakeApi({ ...routes, "GET /delegations/dlg_1": { body: { ...outbound, receiving_tenant_name: null } } });
    renderWithQuery(<DelegationDetail delegationId="dlg_1" />);
    await expectParties(["NatSupply (renamed)", "tnt_med"]);
  });

  it("shows a sentence, not an error, to a role that cannot read the audit log, and no Revoke", async () => {
    fakeApi({
      "GET /auth/session": { body: { ...SESSION, role: "approver" } },
      "GET /delegations/dlg_1": { body: ACTIVE },
      [AUDIT]: { status: 403, body: { error: "forbidden", error_description: "Not for your role." } },
    });
    renderWithQuery(<DelegationDetail delegationId="dlg_1" />);
    expect(await screen.findByText(/Your role cannot read the audit log/)).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.queryByRole("button", { name: "Revoke" })).toBeNull();
  });

  it("says 'not found' for a delegation the tenant is not party to", async () => {
    fakeApi({
      "GET /auth/session": { body: SESSION },
      "GET /delegations/dlg_other": { status: 404, body: { error: "not_found" } },
      "GET /audit?delegation_id=dlg_other&limit=200": { body: { events: [], next_cursor: null } },
    });
    renderWithQuery(<DelegationDetail delegationId="dlg_other" />);
    expect(await screen.findByRole("heading", { name: "Delegation not found" })).toBeTruthy();
  });
});
