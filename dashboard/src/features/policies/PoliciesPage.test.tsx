import { screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { fakeApi, renderWithQuery } from "../../test/render";
import type { Policy } from "./api";
import { PoliciesPage } from "./PoliciesPage";

const BASE: Policy = {
  policy_id: "pol_1",
  action: "stock.write",
  effect: "ALLOW",
  requesting_tenant_id: null,
  ttl_seconds: 900,
  stepup_expiry_seconds: 300,
  require_dpop: false,
  require_private_key_jwt: false,
  created_at: "2026-12-03T10:00:00Z",
  updated_at: null,
};

describe("the policy list", () => {
  it("shows each policy's maximum token lifetime and what it requires of agents", async () => {
    fakeApi({
      "GET /policies": {
        body: {
          policies: [
            BASE,
            { ...BASE, policy_id: "pol_2", action: "stock.*", require_dpop: true, require_private_key_jwt: true },
          ],
        },
      },
    });
    renderWithQuery(<PoliciesPage rest={[]} />);
    const table = await screen.findByRole("table", { name: "Policies of this organisation" });
    expect(within(table).getByRole("columnheader", { name: "Max token lifetime" })).toBeTruthy();
    const strict = (await within(table).findByRole("rowheader", { name: /stock\.\*/ })).closest("tr");
    const plain = within(table).getByRole("rowheader", { name: /stock\.write/ }).closest("tr");
    expect(strict?.textContent).toContain("Keys only (no client secret); DPoP-bound");
    expect(plain?.textContent).toContain("None");
    expect(plain?.textContent).toContain("900 s");
  });
});
