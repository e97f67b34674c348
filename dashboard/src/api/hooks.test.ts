import { describe, expect, it } from "vitest";

import { fakeApi } from "../test/render";
import { PENDING_DELEGATION } from "../test/fixtures";
import { pendingRequests } from "./hooks";

const FIRST = "GET /delegations?direction=inbound&status=PENDING&limit=100";

describe("the pending queue", () => {
  it("follows the cursor when a page read only part of the tenant's delegations", async () => {
    const older = { ...PENDING_DELEGATION, delegation_id: "dlg_older" };
    const { calls } = fakeApi({
      [FIRST]: { body: { delegations: [], next_cursor: "dlg_c1" } },
      [`${FIRST}&cursor=dlg_c1`]: { body: { delegations: [PENDING_DELEGATION], next_cursor: "dlg_c2" } },
      [`${FIRST}&cursor=dlg_c2`]: { body: { delegations: [older], next_cursor: null } },
    });
    const queue = await pendingRequests();
    expect(queue.delegations.map((d) => d.delegation_id)).toEqual([PENDING_DELEGATION.delegation_id, "dlg_older"]);
    expect(calls).toHaveLength(3);
    expect(typeof queue.receivedAt).toBe("number");
  });
});
