import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";

import { SESSION, fakeApi, renderWithQuery } from "../../test/render";
import type { Metrics } from "./api";
import { TenantsPage } from "./TenantsPage";

const NATSUPPLY = { tenant_id: "tnt_nat", name: "NatSupply", status: "ACTIVE", created_at: "2026-11-01T10:00:00Z", audience: "urn:natsupply" };
const METRICS = {
  tenants: { total: 2, ACTIVE: 2, DISABLED: 0 },
  agents: 3,
  policies: 6,
  delegations: { PENDING: 1, ACTIVE: 4, REJECTED: 0, REVOKED: 2, EXPIRED: 0 },
  audit_events: 57,
} satisfies Metrics;

describe("the tenants page", () => {
  it("shows the platform's totals in words and numbers", async () => {
    fakeApi({
      "GET /auth/session": { body: { ...SESSION, role: "platform" } },
      "GET /tenants": { body: { tenants: [NATSUPPLY] } },
      "GET /metrics": { body: METRICS },
    });
    renderWithQuery(<TenantsPage rest={[]} />);
    const metrics = await screen.findByRole("region", { name: "Platform metrics" });
    const figures = await within(metrics).findAllByRole("term");
    expect(figures.map((dt) => `${dt.textContent}: ${dt.nextElementSibling?.textContent}`)).toEqual([
      "Tenants: 2 (active 2, disabled 0)",
      "Agents: 3",
      "Policies: 6",
      "Delegations: 7 (pending 1, active 4, revoked 2)",
      "Audit events: 57",
    ]);
  });

  it("says what disabling an organisation does before doing it", async () => {
    const { calls } = fakeApi({
      "GET /auth/session": { body: { ...SESSION, role: "platform" } },
      "GET /tenants": { body: { tenants: [NATSUPPLY] } },
      "GET /metrics": { body: METRICS },
      "PATCH /tenants/tnt_nat": { body: { ...NATSUPPLY, status: "DISABLED" } },
    });
    const user = userEvent.setup();
    renderWithQuery(<TenantsPage rest={[]} />);
    await user.click(await screen.findByRole("button", { name: "Disable NatSupply" }));
    const dialog = screen.getByRole("dialog", { name: "Disable NatSupply?" });
    expect(dialog.textContent).toContain("Every request of NatSupply's agents will be refused");
    expect(calls.filter((c) => c.method === "PATCH")).toEqual([]);
    await user.click(within(dialog).getByRole("button", { name: "Disable tenant" }));
    expect(calls.find((c) => c.method === "PATCH")?.body).toEqual({ status: "DISABLED" });
    expect((await screen.findByText("NatSupply is disabled.")).getAttribute("role")).toBe("status");
  });
});
