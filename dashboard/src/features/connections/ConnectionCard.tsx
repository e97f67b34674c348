import { useId } from "react";

import { formatTime } from "../../components/time";
import type { Connection } from "./api";
import { STATUS_LABEL, STATUS_TONE, canCheck, canReconnect, connectionName, statusExplained } from "./words";

function listed(values: readonly string[], none: string): string {
  return values.length > 0 ? values.join(", ") : none;
}

/** One connection: its account, health in words, scopes, allowed agents and last activity, and what an admin
 * can do with it. `highlighted` marks the one the provider just sent the browser back for. */
export function ConnectionCard({
  connection,
  agentNames,
  highlighted,
  busy,
  onReconnect,
  onCheck,
  onEdit,
  onDelete,
}: {
  connection: Connection;
  agentNames: ReadonlyMap<string, string>;
  highlighted: boolean;
  busy: boolean;
  onReconnect: () => void;
  onCheck: () => void;
  onEdit: () => void;
  onDelete: () => void;
}) {
  const id = useId();
  const name = connectionName(connection);
  const explained = statusExplained(connection);
  const account = connection.provider_account;
  return (
    <li className={highlighted ? "connection just-connected" : "connection"} aria-labelledby={`${id}-h`}>
      <h3 id={`${id}-h`}>
        {connection.provider}
        {connection.label ? ` — ${connection.label}` : ""}
        {highlighted && <span className="badge"> (just connected)</span>}
      </h3>
      <dl className="facts">
        <dt>Account</dt>
        <dd>{account ? (account.email ?? account.sub ?? "—") : "Not connected yet"}</dd>
        <dt>Status</dt>
        <dd>
          <span className={`status ${STATUS_TONE[connection.status]}`}>{STATUS_LABEL[connection.status]}</span>
          {explained && <span className="reason">{explained}</span>}
        </dd>
        <dt>Granted scopes</dt>
        <dd>{listed(connection.granted_scopes, "None yet")}</dd>
        {connection.missing_scopes.length > 0 && (
          <>
            <dt>Asked for, not granted</dt>
            <dd>{connection.missing_scopes.join(", ")}</dd>
          </>
        )}
        <dt>Agents may ask for</dt>
        <dd>{listed(connection.allowed_scopes, "No scope")}</dd>
        <dt>Allowed agents</dt>
        <dd>{listed(connection.agent_ids.map((a) => agentNames.get(a) ?? a), "None: no agent can use it")}</dd>
        <dt>Last refresh</dt>
        <dd>{connection.last_refresh_at ? formatTime(connection.last_refresh_at) : "Never"}</dd>
        <dt>Last used</dt>
        <dd>{connection.last_used_at ? formatTime(connection.last_used_at) : "Never"}</dd>
      </dl>
      <div className="row-actions">
        {canReconnect(connection.status) && (
          <button type="button" className="primary" aria-label={`Reconnect ${name}`} disabled={busy} onClick={onReconnect}>
            Reconnect
          </button>
        )}
        {canCheck(connection.status) && (
          <button type="button" aria-label={`Check now ${name}`} disabled={busy} onClick={onCheck}>
            Check now
          </button>
        )}
        <button type="button" aria-label={`Edit ${name}`} onClick={onEdit}>
          Edit
        </button>
        <button type="button" className="danger" aria-label={`Delete ${name}`} onClick={onDelete}>
          Delete
        </button>
      </div>
    </li>
  );
}
