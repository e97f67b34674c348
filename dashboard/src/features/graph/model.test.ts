import { describe, expect, it } from "vitest";

import type { TrustGraph } from "./api";
import { countsLabel, dominantOutcome, layout, rowsOf, sinceFor } from "./model";

const ZERO = { ALLOW: 0, STEP_UP: 0, BLOCK: 0, APPROVED: 0, REJECTED: 0, EXPIRED: 0, REVOKED: 0 };
const NATSUPPLY = "tnt_00000000000000000002";
const MEDICORE = "tnt_00000000000000000001";
const UNNAMED = "tnt_00000000000000000009";

const GRAPH: TrustGraph = {
  tenant: { tenant_id: NATSUPPLY, name: "NatSupply" },
  since: "2026-11-26T00:00:00Z",
  nodes: [
    { tenant_id: MEDICORE, name: "MediCore" },
    { tenant_id: UNNAMED, name: null },
  ],
  edges: [
    {
      from_tenant_id: MEDICORE,
      to_tenant_id: NATSUPPLY,
      direction: "inbound",
      counts: { ...ZERO, ALLOW: 1, STEP_UP: 2, BLOCK: 1, APPROVED: 1, REJECTED: 1 },
      total: 6,
    },
    { from_tenant_id: NATSUPPLY, to_tenant_id: UNNAMED, direction: "outbound", counts: { ...ZERO, BLOCK: 3 }, total: 3 },
  ],
};

describe("the trust graph's rows", () => {
  it("name the counterpart, who asked whom, every outcome in words and where the delegations are", () => {
    const [inbound, outbound] = rowsOf(GRAPH);
    expect(inbound).toMatchObject({
      counterpart: "MediCore",
      direction: "inbound",
      route: "MediCore → NatSupply",
      label: "ALLOW 1 · STEP_UP 2 · BLOCK 1 · APPROVED 1 · REJECTED 1",
      dominant: "STEP_UP",
      total: 6,
      href: `/dashboard/delegations?direction=inbound&counterpart=${MEDICORE}`,
    });
    // A counterpart without a name (only ever BLOCKed) is shown by its id.
    expect(outbound).toMatchObject({
      counterpart: UNNAMED,
      route: `NatSupply → ${UNNAMED}`,
      label: "BLOCK 3",
      dominant: "BLOCK",
      href: `/dashboard/delegations?direction=outbound&counterpart=${UNNAMED}`,
    });
  });

  it("say none rather than an empty label, and a tie goes to the first outcome in column order", () => {
    expect(countsLabel(ZERO)).toBe("none");
    expect(dominantOutcome(ZERO)).toBeNull();
    expect(dominantOutcome({ ...ZERO, BLOCK: 2, ALLOW: 2, REVOKED: 1 })).toBe("ALLOW");
  });

  it("place the caller's tenant in the centre and the counterparts around it", () => {
    const placed = layout(GRAPH);
    expect(placed[0]).toMatchObject({ id: NATSUPPLY, label: "NatSupply", x: 0, y: 0, centre: true });
    expect(placed.slice(1).map((p) => p.label)).toEqual(["MediCore", UNNAMED]);
    for (const p of placed.slice(1)) expect(Math.hypot(p.x, p.y)).toBeGreaterThan(300);
    expect(placed[1]).toMatchObject({ x: -340, y: 0 });
    expect(placed[2]).toMatchObject({ x: 340 });
  });

  it("turn a window into the instant it starts", () => {
    expect(sinceFor(7, Date.parse("2026-12-03T15:00:00Z"))).toBe("2026-11-26T15:00:00.000Z");
  });
});
