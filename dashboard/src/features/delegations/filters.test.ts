import { describe, expect, it } from "vitest";

import { filtersFrom, filtersToParams, filtersToQuery } from "./filters";

describe("the delegations filters", () => {
  it("come from the URL, as the trust graph links to them", () => {
    const f = filtersFrom(new URLSearchParams("direction=outbound&status=ACTIVE&counterpart=tnt_0123456789abcdef0123"));
    expect(f).toEqual({ direction: "outbound", status: "ACTIVE", counterpart: "tnt_0123456789abcdef0123" });
    expect(filtersToQuery(f, 50, "dlg_9")).toEqual({
      direction: "outbound",
      status: "ACTIVE",
      counterpart_tenant_id: "tnt_0123456789abcdef0123",
      limit: 50,
      cursor: "dlg_9",
    });
  });

  it("fall back to all inbound delegations for anything unknown", () => {
    const f = filtersFrom(new URLSearchParams("direction=sideways&status=active&counterpart="));
    expect(f).toEqual({ direction: "inbound", status: null, counterpart: null });
    expect(filtersToQuery(f, 50)).toEqual({ direction: "inbound", limit: 50 });
    expect(filtersToParams(f)).toEqual({ direction: "inbound", status: null, counterpart: null });
  });
});
