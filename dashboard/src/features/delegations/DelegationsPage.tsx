import type { PageProps } from "../../components/router";
import { useEffect, useId, useState } from "react";

import type { Delegation, DelegationQuery, Status } from "../../api/client";
import { useDelegations } from "../../api/hooks";
import { formatTime } from "../../components/time";

type Direction = NonNullable<DelegationQuery["direction"]>;
const STATUSES: Status[] = ["PENDING", "ACTIVE", "REJECTED", "REVOKED", "EXPIRED"];

/** Read-only: the tenant's delegations, inbound or outbound, filtered by status. */
export function DelegationsPage(_props: PageProps) {
  const [direction, setDirection] = useState<Direction>("inbound");
  const [status, setStatus] = useState<Status | "">("");
  const [cursors, setCursors] = useState<string[]>([]);
  const directionId = useId();
  const statusId = useId();
  const query: DelegationQuery = { direction, limit: 50 };
  if (status) query.status = status;
  const cursor = cursors[cursors.length - 1];
  if (cursor) query.cursor = cursor;
  const list = useDelegations(query);

  useEffect(() => {
    document.title = "Delegations · VaultGuard";
  }, []);

  const rows = list.data?.delegations ?? [];
  const next = list.data?.next_cursor ?? null;
  return (
    <main>
      <h1>Delegations</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor={directionId}>Direction</label>
        <select
          id={directionId}
          value={direction}
          onChange={(e) => {
            setDirection(e.target.value === "outbound" ? "outbound" : "inbound");
            setCursors([]);
          }}
        >
          <option value="inbound">Inbound (asked of us)</option>
          <option value="outbound">Outbound (asked by our agents)</option>
        </select>
        <label htmlFor={statusId}>Status</label>
        <select
          id={statusId}
          value={status}
          onChange={(e) => {
            const value = STATUSES.find((s) => s === e.target.value);
            setStatus(value ?? "");
            setCursors([]);
          }}
        >
          <option value="">Any</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </form>
      {list.isError && <p role="alert">The delegations could not be loaded: {list.error.message}</p>}
      <table>
        <caption>
          {direction === "inbound" ? "Inbound" : "Outbound"} delegations{status ? `, ${status}` : ""}
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
      <div className="actions">
        {cursors.length > 0 && (
          <button type="button" onClick={() => setCursors(cursors.slice(0, -1))}>
            Previous page
          </button>
        )}
        {next && (
          <button type="button" onClick={() => setCursors([...cursors, next])}>
            Next page
          </button>
        )}
      </div>
    </main>
  );
}

function Row({ d, direction }: { d: Delegation; direction: Direction }) {
  const counterpart =
    direction === "inbound" ? (d.requesting_tenant_name ?? d.requesting_tenant_id) : d.receiving_tenant_id;
  return (
    <tr>
      <td>{counterpart}</td>
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
