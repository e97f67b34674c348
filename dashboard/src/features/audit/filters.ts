/** The audit page's filters: in the URL (so a link opens the log filtered), as GET /audit's query,
 * and as the CSV export's link. Times are ISO 8601 UTC instants; the form's datetime-local
 * inputs are the browser's local time. */
import { query, type QueryOf } from "../../api/client";

export type AuditQuery = QueryOf<"/audit", "get">;
export type AuditEventType = NonNullable<AuditQuery["type"]>[number];

/** Every event type the API's OpenAPI enum lists (tsc fails when the enum changes and this does not). */
const TYPES: Record<AuditEventType, true> = {
  "agent.created": true,
  "agent.disabled": true,
  "agent.keys_rotated": true,
  "agent.secret_rotated": true,
  "auth.failed": true,
  "delegation.allowed": true,
  "delegation.approved": true,
  "delegation.blocked": true,
  "delegation.expired": true,
  "delegation.rejected": true,
  "delegation.requested": true,
  "delegation.revoked": true,
  "delegation.stepup_required": true,
  "delegation.verified": true,
  "policy.deleted": true,
  "policy.upserted": true,
  "session.ended": true,
  "session.started": true,
  "tenant.created": true,
  "tenant.status_changed": true,
  "token.issued": true,
  "user.invited": true,
  "user.joined": true,
  "user.removed": true,
  "user.role_changed": true,
  "vault.connect_failed": true,
  "vault.connect_started": true,
  "vault.connected": true,
  "vault.disconnected": true,
  "vault.exchange_denied": true,
  "vault.exchanged": true,
  "vault.needs_reauth": true,
  "vault.provider_configured": true,
  "vault.reconnected": true,
  "vault.refresh_failed": true,
  "vault.updated": true,
  "webhook.deleted": true,
  "webhook.tested": true,
  "webhook.updated": true,
};
export const EVENT_TYPES = (Object.keys(TYPES) as AuditEventType[]).sort();

export type AuditFilters = {
  type: AuditEventType | null;
  delegationId: string | null;
  actorId: string | null;
  since: string | null;
  until: string | null;
};

export const NO_FILTERS: AuditFilters = { type: null, delegationId: null, actorId: null, since: null, until: null };

function isEventType(value: string | null): value is AuditEventType {
  return value !== null && Object.hasOwn(TYPES, value);
}

function instant(value: string | null): string | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** What the page's URL asks for (`?type=&delegation_id=&actor_id=&since=&until=`). */
export function filtersFrom(params: URLSearchParams): AuditFilters {
  const type = params.get("type");
  return {
    type: isEventType(type) ? type : null,
    delegationId: params.get("delegation_id")?.trim() || null,
    actorId: params.get("actor_id")?.trim() || null,
    since: instant(params.get("since")),
    until: instant(params.get("until")),
  };
}

/** The filters as query parameters, named as the API names them (the page's URL uses the same). */
export function filtersToParams(f: AuditFilters): Record<string, string | null> {
  return { type: f.type, delegation_id: f.delegationId, actor_id: f.actorId, since: f.since, until: f.until };
}

/** GET /audit's query for one page. */
export function searchQuery(f: AuditFilters, limit: number, cursor?: string): AuditQuery {
  const q: AuditQuery = { limit };
  if (f.type) q.type = [f.type];
  if (f.delegationId) q.delegation_id = f.delegationId;
  if (f.actorId) q.actor_id = f.actorId;
  if (f.since) q.since = f.since;
  if (f.until) q.until = f.until;
  if (cursor) q.cursor = cursor;
  return q;
}

/** The CSV export of the same filters (a plain link: the session cookie authenticates it). */
export function exportHref(f: AuditFilters): string {
  return `/audit/export.csv${query(filtersToParams(f))}`;
}

/** A datetime-local input's value (the browser's local time) as an ISO 8601 UTC instant. */
export function localToIso(value: string): string | null {
  return value ? instant(value) : null;
}

/** An ISO instant as a datetime-local input's value, in the browser's local time (to the minute). */
export function isoToLocal(iso: string | null): string {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
