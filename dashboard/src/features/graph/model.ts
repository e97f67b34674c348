/** The trust graph's answer turned into what the page shows: table rows, edge labels, the
 * dominant outcome (colour and word), where each node sits, and where an edge leads. Pure. */
import { PAGES, withQuery } from "../../components/router";
import type { GraphEdge, Outcome, TrustGraph } from "./api";

/** The outcomes in the order the table's columns and the labels list them. */
export const OUTCOMES: readonly Outcome[] = ["ALLOW", "STEP_UP", "BLOCK", "APPROVED", "REJECTED", "EXPIRED", "REVOKED"];

/** The time windows offered, in days back from now. */
export const WINDOWS: readonly { days: number; label: string }[] = [
  { days: 1, label: "Last 24 hours" },
  { days: 7, label: "Last 7 days" },
  { days: 30, label: "Last 30 days" },
  { days: 90, label: "Last 90 days" },
];
export const DEFAULT_WINDOW_DAYS = 30;

/** The `since` of a window of `days` ending at `now` (epoch ms). */
export function sinceFor(days: number, now: number): string {
  return new Date(now - days * 86_400_000).toISOString();
}

export type Tone = "good" | "wait" | "bad" | "over";
/** The colour family of each outcome (the word is always shown beside it). */
export const TONE: Record<Outcome, Tone> = {
  ALLOW: "good",
  APPROVED: "good",
  STEP_UP: "wait",
  BLOCK: "bad",
  REJECTED: "bad",
  EXPIRED: "over",
  REVOKED: "over",
};

export type Row = {
  key: string;
  counterpartId: string;
  counterpart: string;
  direction: GraphEdge["direction"];
  /** "MediCore → NatSupply": who asked whom. */
  route: string;
  counts: GraphEdge["counts"];
  total: number;
  /** The most frequent outcome (the first in OUTCOMES order on a tie); null when nothing was counted. */
  dominant: Outcome | null;
  /** "ALLOW 3 · BLOCK 1": the non-zero outcomes, or "none". */
  label: string;
  /** The delegations page filtered on this counterpart and direction. */
  href: string;
};

export function dominantOutcome(counts: GraphEdge["counts"]): Outcome | null {
  let best: Outcome | null = null;
  for (const outcome of OUTCOMES) {
    if (counts[outcome] > 0 && (best === null || counts[outcome] > counts[best])) best = outcome;
  }
  return best;
}

export function countsLabel(counts: GraphEdge["counts"]): string {
  const parts = OUTCOMES.filter((o) => counts[o] > 0).map((o) => `${o} ${counts[o]}`);
  return parts.length ? parts.join(" · ") : "none";
}

export function delegationsHref(direction: GraphEdge["direction"], counterpartId: string): string {
  return withQuery(PAGES.delegations.path, { direction, counterpart: counterpartId });
}

/** A tenant's display name: its name when the API gives one, else its id. */
export function namesOf(graph: TrustGraph): Map<string, string> {
  const names = new Map<string, string>([[graph.tenant.tenant_id, graph.tenant.name || graph.tenant.tenant_id]]);
  for (const node of graph.nodes) names.set(node.tenant_id, node.name ?? node.tenant_id);
  return names;
}

/** One row per edge, in the API's order (busiest first). */
export function rowsOf(graph: TrustGraph): Row[] {
  const names = namesOf(graph);
  const me = graph.tenant.tenant_id;
  return graph.edges.map((edge) => {
    const counterpartId = edge.direction === "outbound" ? edge.to_tenant_id : edge.from_tenant_id;
    return {
      key: `${edge.direction}:${counterpartId}`,
      counterpartId,
      counterpart: names.get(counterpartId) ?? counterpartId,
      direction: edge.direction,
      route: `${names.get(edge.from_tenant_id) ?? edge.from_tenant_id} → ${names.get(edge.to_tenant_id) ?? edge.to_tenant_id}`,
      counts: edge.counts,
      total: edge.total,
      dominant: dominantOutcome(edge.counts),
      label: countsLabel(edge.counts),
      href: delegationsHref(edge.direction, counterpartId),
    };
  }).filter((row) => row.counterpartId !== me);
}

export type Placed = { id: string; label: string; x: number; y: number; centre: boolean };

/** The caller's tenant at the centre, its counterparts evenly around it (in the API's order),
 * the first to its left: arrows run across the wide canvas and their labels side by side. */
export function layout(graph: TrustGraph): Placed[] {
  const names = namesOf(graph);
  const me = graph.tenant.tenant_id;
  const others = graph.nodes.filter((n) => n.tenant_id !== me);
  const radius = Math.max(340, others.length * 60);
  return [
    { id: me, label: names.get(me) ?? me, x: 0, y: 0, centre: true },
    ...others.map((node, i) => {
      const angle = Math.PI + (2 * Math.PI * i) / others.length; // the first on the left
      return {
        id: node.tenant_id,
        label: names.get(node.tenant_id) ?? node.tenant_id,
        x: Math.round(radius * Math.cos(angle)),
        y: Math.round(radius * Math.sin(angle)),
        centre: false,
      };
    }),
  ];
}

/** "3 June 2026" for the UTC day an instant falls on. */
export function utcDay(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleDateString("en-GB", { timeZone: "UTC", day: "numeric", month: "long", year: "numeric" });
}
