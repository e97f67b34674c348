import { screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import type { Delegation } from "../../api/client";
import { ACTIVE_DELEGATION } from "../../test/fixtures";
import { fakeApi, renderWithQuery } from "../../test/render";
import { DelegationsPage } from "./DelegationsPage";

const INBOUND = { ...ACTIVE_DELEGATION, agent_name: "buyer" } satisfies Delegation;
const OUTBOUND = { ...INBOUND, direction: "outbound" } satisfies Delegation;

/** The counterpart column's cells (the first), in order. */
async function counterparts(): Promise<string[]> {
  const table = await screen.findByRole("table");
  await within(table).findAllByRole("link");
  return within(table)
    .getAllByRole("row")
    .slice(1)
    .map((row) => row.querySelector("td")?.textContent ?? "");
}

afterEach(() => {
  document.body.innerHTML = "";
  window.history.replaceState(null, "", "/");
});

describe("the delegations list", () => {
  it("names the requesting organisation of inbound delegations, without asking the trust graph", async () => {
    window.history.replaceState(null, "", "/dashboard/delegations?direction=inbound");
    const { calls } = fakeApi({
      "GET /delegations?direction=inbound&limit=50": {
        body: {
          delegations: [
            INBOUND,
            { ...INBOUND, delegation_id: "dlg_2", requesting_tenant_id: "tnt_old", requesting_tenant_name: null },
          ],
          next_cursor: null,
        },
      },
    });
    renderWithQuery(<DelegationsPage rest={[]} />);
    expect(await screen.findByRole("columnheader", { name: "Requesting organisation" })).toBeTruthy();
    expect(await counterparts()).toEqual(["MediCore", "tnt_old"]);
    expect(screen.getByRole("link", { name: "MediCore: stock.write, ACTIVE (details)" })).toBeTruthy();
    expect(calls.map((c) => c.path)).toEqual(["/delegations?direction=inbound&limit=50"]);
  });

  it("names the receiving organisation of outbound ones, in the caption too when filtered by it", async () => {
    window.history.replaceState(null, "", "/dashboard/delegations?direction=outbound&counterpart=tnt_nat");
    const { calls } = fakeApi({
      "GET /delegations?direction=outbound&limit=50&counterpart_tenant_id=tnt_nat": {
        body: {
          delegations: [
            { ...OUTBOUND, delegation_id: "dlg_3", receiving_tenant_name: null },
            { ...OUTBOUND, delegation_id: "dlg_4" },
          ],
          next_cursor: null,
        },
      },
    });
    renderWithQuery(<DelegationsPage rest={[]} />);
    expect(await screen.findByRole("columnheader", { name: "Receiving organisation" })).toBeTruthy();
    expect(await counterparts()).toEqual(["tnt_nat", "NatSupply"]);
    expect(screen.getByRole("table", { name: "Outbound delegations, with NatSupply" })).toBeTruthy();
    expect(calls.filter((c) => c.path.startsWith("/graph"))).toEqual([]);
  });
});
