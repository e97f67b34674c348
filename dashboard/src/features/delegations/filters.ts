/** The delegations list's filters live in the URL (`?direction=&status=&counterpart=`), so a link
 * (the trust graph's, a colleague's) opens the list already filtered. */
import type { DelegationQuery, Status } from "../../api/client";

export type Direction = NonNullable<DelegationQuery["direction"]>;
export const STATUSES: readonly Status[] = ["PENDING", "ACTIVE", "REJECTED", "REVOKED", "EXPIRED"];

export type DelegationFilters = { direction: Direction; status: Status | null; counterpart: string | null };

/** What the URL's query asks for; anything unknown or malformed falls back to "no filter". */
export function filtersFrom(params: URLSearchParams): DelegationFilters {
  const status = STATUSES.find((s) => s === params.get("status")) ?? null;
  const counterpart = params.get("counterpart")?.trim() || null;
  return { direction: params.get("direction") === "outbound" ? "outbound" : "inbound", status, counterpart };
}

/** The page's own query string for `filters` (what the address bar shows). */
export function filtersToParams(filters: DelegationFilters): Record<string, string | null> {
  return { direction: filters.direction, status: filters.status, counterpart: filters.counterpart };
}

/** GET /delegations's query for `filters`, a page size and an optional cursor. */
export function filtersToQuery(filters: DelegationFilters, limit: number, cursor?: string): DelegationQuery {
  const query: DelegationQuery = { direction: filters.direction, limit };
  if (filters.status) query.status = filters.status;
  if (filters.counterpart) query.counterpart_tenant_id = filters.counterpart;
  if (cursor) query.cursor = cursor;
  return query;
}
