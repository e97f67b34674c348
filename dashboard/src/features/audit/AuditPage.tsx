import { useEffect, useId, useState, type FormEvent } from "react";

import { QueryState } from "../../components/Feedback";
import { Pager, useCursorPages } from "../../components/Pager";
import { PAGES, navigate, onNavigate, useLocation, withQuery, type PageProps } from "../../components/router";
import { formatTime } from "../../components/time";
import { useAuditEvents, useTenantNames, type AuditEvent } from "./api";
import { EventType } from "./EventType";
import {
  EVENT_TYPES,
  exportHref,
  filtersFrom,
  filtersToParams,
  isoToLocal,
  localToIso,
  searchQuery,
  type AuditFilters,
} from "./filters";
import "./audit.css";

const PAGE_SIZE = 50;

/** The tenant's audit log: filters in the URL, cursor paging, each event's JSON, CSV export. */
export function AuditPage(_props: PageProps) {
  const { params } = useLocation();
  const filters = filtersFrom(params);
  const key = JSON.stringify(filtersToParams(filters));

  useEffect(() => {
    document.title = "Audit log · VaultGuard";
  }, []);

  return (
    <main className="audit-page">
      <h1>Audit log</h1>
      <FilterForm key={`form ${key}`} filters={filters} />
      <p>
        <a className="export" href={exportHref(filters)} download>
          Export CSV
        </a>{" "}
        <span>(the events matching these filters, oldest first)</span>
      </p>
      <Events key={`events ${key}`} filters={filters} />
    </main>
  );
}

function FilterForm({ filters }: { filters: AuditFilters }) {
  const [type, setType] = useState(filters.type ?? "");
  const [delegationId, setDelegationId] = useState(filters.delegationId ?? "");
  const [actorId, setActorId] = useState(filters.actorId ?? "");
  const [since, setSince] = useState(isoToLocal(filters.since));
  const [until, setUntil] = useState(isoToLocal(filters.until));
  const ids = { type: useId(), delegation: useId(), actor: useId(), since: useId(), until: useId() };

  function apply(event: FormEvent) {
    event.preventDefault();
    const next: AuditFilters = {
      type: EVENT_TYPES.find((t) => t === type) ?? null,
      delegationId: delegationId.trim() || null,
      actorId: actorId.trim() || null,
      since: localToIso(since),
      until: localToIso(until),
    };
    navigate(withQuery(PAGES.audit.path, filtersToParams(next)), { replace: true });
  }

  return (
    <form className="filters audit-filters" onSubmit={apply} aria-label="Filter the audit log">
      <label htmlFor={ids.type}>Event type</label>
      <select id={ids.type} value={type} onChange={(e) => setType(e.target.value)}>
        <option value="">Any</option>
        {EVENT_TYPES.map((t) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
      <label htmlFor={ids.delegation}>Delegation id</label>
      <input id={ids.delegation} value={delegationId} onChange={(e) => setDelegationId(e.target.value)} size={28} />
      <label htmlFor={ids.actor}>Actor id</label>
      <input id={ids.actor} value={actorId} onChange={(e) => setActorId(e.target.value)} size={20} />
      <label htmlFor={ids.since}>Since (your local time)</label>
      <input id={ids.since} type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
      <label htmlFor={ids.until}>Until (your local time)</label>
      <input id={ids.until} type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
      <button type="submit" className="primary">
        Apply filters
      </button>
      <button type="button" onClick={() => navigate(PAGES.audit.path, { replace: true })}>
        Clear
      </button>
    </form>
  );
}

function Events({ filters }: { filters: AuditFilters }) {
  const pages = useCursorPages();
  const list = useAuditEvents(searchQuery(filters, PAGE_SIZE, pages.cursor));
  const rows = list.data?.events ?? [];
  const next = list.data?.next_cursor ?? null;
  const names = useTenantNames();
  return (
    <>
      <QueryState query={list} subject="The audit log" loading="Loading the audit log…" live />
      <table className="audit-table">
        <caption>
          Audit events, newest first{pages.page > 1 ? `, page ${pages.page}` : ""}
        </caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Type</th>
            <th scope="col">Actor</th>
            <th scope="col">Delegation</th>
            <th scope="col">Counterpart</th>
            <th scope="col">Event</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <Row key={e.event_id} e={e} names={names} />
          ))}
        </tbody>
      </table>
      {list.isSuccess && rows.length === 0 && <p>No events match.</p>}
      <Pager pages={pages} next={next} />
    </>
  );
}

function Row({ e, names }: { e: AuditEvent; names: ReadonlyMap<string, string> }) {
  const detail = `${PAGES.delegations.path}/${encodeURIComponent(e.delegation_id ?? "")}`;
  return (
    <tr>
      <td>
        <time dateTime={e.occurred_at}>{formatTime(e.occurred_at)}</time>
      </td>
      <td>
        <EventType type={e.type} />
      </td>
      <td>
        {e.actor.type} <code>{e.actor.id}</code>
      </td>
      <td>
        {e.delegation_id ? (
          <a href={detail} onClick={onNavigate(detail)}>
            <code>{e.delegation_id}</code>
          </a>
        ) : (
          "—"
        )}
      </td>
      <td>
        {e.counterpart_tenant_id ? (names.get(e.counterpart_tenant_id) ?? <code>{e.counterpart_tenant_id}</code>) : "—"}
      </td>
      <td>
        <details>
          <summary>JSON</summary>
          <pre>{JSON.stringify(e, null, 2)}</pre>
        </details>
      </td>
    </tr>
  );
}
