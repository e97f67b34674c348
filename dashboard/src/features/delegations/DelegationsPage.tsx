import { useEffect, useId, useState } from "react";

import type { Delegation } from "../../api/client";
import { useDelegations } from "../../api/hooks";
import { QueryState } from "../../components/Feedback";
import { Pager, useCursorPages } from "../../components/Pager";
import { PAGES, navigate, onNavigate, useLocation, withQuery, type PageProps } from "../../components/router";
import { formatTime } from "../../components/time";
import { DelegationDetail } from "./DelegationDetail";
import {
  STATUSES,
  filtersFrom,
  filtersToParams,
  filtersToQuery,
  type DelegationFilters,
  type Direction,
} from "./filters";
import "./delegations.css";

const PAGE_SIZE = 50;

/** The tenant's delegations, filtered by the URL's query; `/delegations/<id>` is one delegation. */
export function DelegationsPage({ rest }: PageProps) {
  const { params } = useLocation();
  const delegationId = rest[0];
  if (delegationId) return <DelegationDetail key={delegationId} delegationId={delegationId} />;
  return <DelegationList filters={filtersFrom(params)} />;
}

function DelegationList({ filters }: { filters: DelegationFilters }) {
  useEffect(() => {
    document.title = "Delegations · VaultGuard";
  }, []);
  const change = (next: Partial<DelegationFilters>) =>
    navigate(withQuery(PAGES.delegations.path, filtersToParams({ ...filters, ...next })), { replace: true });
  return (
    <main>
      <h1>Delegations</h1>
      <Filters filters={filters} change={change} />
      <Listing key={JSON.stringify(filters)} filters={filters} />
    </main>
  );
}

function Filters({
  filters,
  change,
}: {
  filters: DelegationFilters;
  change: (next: Partial<DelegationFilters>) => void;
}) {
  const ids = { direction: useId(), status: useId(), counterpart: useId() };
  const [counterpart, setCounterpart] = useState(filters.counterpart ?? "");
  useEffect(() => setCounterpart(filters.counterpart ?? ""), [filters.counterpart]);
  return (
    <form
      className="filters delegations-filters"
      aria-label="Filter the delegations"
      onSubmit={(e) => {
        e.preventDefault();
        change({ counterpart: counterpart.trim() || null });
      }}
    >
      <label htmlFor={ids.direction}>Direction</label>
      <select
        id={ids.direction}
        value={filters.direction}
        onChange={(e) => change({ direction: e.target.value === "outbound" ? "outbound" : "inbound" })}
      >
        <option value="inbound">Inbound (asked of us)</option>
        <option value="outbound">Outbound (asked by our agents)</option>
      </select>
      <label htmlFor={ids.status}>Status</label>
      <select
        id={ids.status}
        value={filters.status ?? ""}
        onChange={(e) => change({ status: STATUSES.find((s) => s === e.target.value) ?? null })}
      >
        <option value="">Any</option>
        {STATUSES.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
      <label htmlFor={ids.counterpart}>Counterpart tenant id</label>
      <input
        id={ids.counterpart}
        value={counterpart}
        size={26}
        placeholder="tnt_…"
        onChange={(e) => setCounterpart(e.target.value)}
        onBlur={() => change({ counterpart: counterpart.trim() || null })}
      />
      <button type="submit">Apply</button>
    </form>
  );
}

function Listing({ filters }: { filters: DelegationFilters }) {
  const pages = useCursorPages();
  const list = useDelegations(filtersToQuery(filters, PAGE_SIZE, pages.cursor));
  const rows = list.data?.delegations ?? [];
  const next = list.data?.next_cursor ?? null;
  const { direction, status, counterpart } = filters;
  const counterpartName = rows
    .map((d) => counterpartOf(d, direction))
    .find((c) => c.id === counterpart && c.name)?.name;
  return (
    <>
      <QueryState query={list} subject="The delegations" />
      <table>
        <caption>
          {direction === "inbound" ? "Inbound" : "Outbound"} delegations{status ? `, ${status}` : ""}
          {counterpart ? `, with ${counterpartName ?? counterpart}` : ""}
        </caption>
        <thead>
          <tr>
            <th scope="col">{direction === "inbound" ? "Requesting organisation" : "Receiving organisation"}</th>
            <th scope="col">Agent</th>
            <th scope="col">Action</th>
            <th scope="col">Status</th>
            <th scope="col">Requested</th>
            <th scope="col">Expires</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((d) => (
            <Row key={d.delegation_id} d={d} direction={direction} />
          ))}
        </tbody>
      </table>
      {list.isSuccess && rows.length === 0 && <p>No delegations match.</p>}
      <Pager pages={pages} next={next} />
    </>
  );
}

/** The other side: the requesting tenant of an inbound delegation, the receiving one of an
 * outbound one, with the name recorded at creation (none for delegations from before names were kept). */
function counterpartOf(d: Delegation, direction: Direction): { id: string; name: string | null } {
  return direction === "inbound"
    ? { id: d.requesting_tenant_id, name: d.requesting_tenant_name }
    : { id: d.receiving_tenant_id, name: d.receiving_tenant_name };
}

function Row({ d, direction }: { d: Delegation; direction: Direction }) {
  const { id, name } = counterpartOf(d, direction);
  const counterpart = name ?? id;
  const detail = `${PAGES.delegations.path}/${encodeURIComponent(d.delegation_id)}`;
  return (
    <tr>
      <td>
        <a href={detail} onClick={onNavigate(detail)} aria-label={`${counterpart}: ${d.action}, ${d.status} (details)`}>
          {counterpart}
        </a>
      </td>
      <td>{d.agent_name ?? d.agent_id}</td>
      <td>
        <code>{d.action}</code>
      </td>
      <td>
        <span className={`status status-${d.status.toLowerCase()}`}>{d.status}</span>
      </td>
      <td>{formatTime(d.created_at)}</td>
      <td>{formatTime(d.expires_at ?? d.stepup_expires_at)}</td>
    </tr>
  );
}
