import { describe, expect, it } from "vitest";

import { exportHref, filtersFrom, isoToLocal, localToIso, searchQuery } from "./filters";

describe("the audit filters", () => {
  it("read the URL, ignoring what the API would refuse", () => {
    const params = new URLSearchParams(
      "type=delegation.revoked&delegation_id=dlg_1&actor_id=%20&since=2026-03-01T10:00:00Z&until=not-a-time",
    );
    expect(filtersFrom(params)).toEqual({
      type: "delegation.revoked",
      delegationId: "dlg_1",
      actorId: null,
      since: "2026-03-01T10:00:00.000Z",
      until: null,
    });
    expect(filtersFrom(new URLSearchParams("type=nonsense")).type).toBeNull();
  });

  it("become GET /audit's query and the export's link, with the same filters", () => {
    const f = filtersFrom(new URLSearchParams("type=delegation.revoked&actor_id=usr_1&since=2026-03-01T10:00:00Z"));
    expect(searchQuery(f, 50, "c1")).toEqual({
      limit: 50,
      type: ["delegation.revoked"],
      actor_id: "usr_1",
      since: "2026-03-01T10:00:00.000Z",
      cursor: "c1",
    });
    expect(exportHref(f)).toBe(
      "/audit/export.csv?type=delegation.revoked&actor_id=usr_1&since=2026-03-01T10%3A00%3A00.000Z",
    );
    expect(exportHref(filtersFrom(new URLSearchParams()))).toBe("/audit/export.csv");
  });

  it("turn the datetime-local inputs (local time) into UTC instants and back", () => {
    const local = "2026-03-01T09:30";
    const iso = localToIso(local);
    expect(iso).toBe(new Date(2026, 2, 1, 9, 30).toISOString());
    expect(isoToLocal(iso)).toBe(local);
    expect(localToIso("")).toBeNull();
    expect(isoToLocal(null)).toBe("");
  });
});
