import { useEffect, useState } from "react";

import { ConfirmDialog } from "../../components/ConfirmDialog";
import { failure } from "../../components/failure";
import { Announcer, Problem, QueryState } from "../../components/Feedback";
import { PAGES, navigate, useLocation, type PageProps } from "../../components/router";
import { useAgents, type Agent } from "../agents/api";
import {
  goToProvider,
  useCheckConnection,
  useConnections,
  useDeleteConnection,
  useProviders,
  useStartConnect,
  type Connection,
  type DeletedConnection,
} from "./api";
import { ConnectForm } from "./ConnectForm";
import { ConnectionCard } from "./ConnectionCard";
import { EditConnection } from "./EditConnection";
import { STATUS_LABEL, connectFailure, connectionName, statusExplained } from "./words";
import "../../components/adminForms.css";
import "./connections.css";

const CONNECTION_ID = /^con_[0-9a-f]{20}$/;
const ERROR_CODE = /^[a-z0-9_]{1,64}$/;

const REVOCATION: Record<DeletedConnection["provider_revocation"], string> = {
  revoked: "its access was revoked at the provider",
  nothing_to_revoke: "it held no grant to revoke",
  not_supported: "the provider offers no revocation, so also remove VaultGuard's access in the account's settings",
  failed: "revoking at the provider failed, so also remove VaultGuard's access in the account's settings",
};

/** What the provider's way back (/vault/callback) put in the address: read once, then cleaned away. */
function useReturn(): { connected: string | null; error: string | null } {
  const location = useLocation();
  const [returned] = useState(() => {
    const connected = location.params.get("connected");
    const error = location.params.get("error");
    return {
      connected: connected && CONNECTION_ID.test(connected) ? connected : null,
      error: error === null ? null : ERROR_CODE.test(error) ? error : "unknown",
    };
  });
  const dirty = location.params.has("connected") || location.params.has("error");
  useEffect(() => {
    if (dirty) navigate(PAGES.connections.path, { replace: true });
  }, [dirty]);
  return returned;
}

/** The tenant's token vault: connect a provider account (Google…), see each connection's health and who may
 * use it, reconnect one the provider stopped honouring, change its agents and scopes, delete it. */
export function ConnectionsPage(_props: PageProps) {
  const returned = useReturn();
  const connections = useConnections();
  const agents = useAgents();
  const providers = useProviders();
  const reconnect = useStartConnect();
  const remove = useDeleteConnection();
  const check = useCheckConnection();
  const [editing, setEditing] = useState<Connection | null>(null);
  const [deleting, setDeleting] = useState<Connection | null>(null);
  const [announcement, setAnnouncement] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const agentList: Agent[] = agents.data?.agents ?? [];
  const names = new Map(agentList.map((a) => [a.agent_id, a.name]));
  const list = connections.data?.connections ?? [];
  const justConnected = list.find((c) => c.connection_id === returned.connected) ?? null;
  const arrival =
    returned.connected && connections.isSuccess
      ? justConnected
        ? `Connected ${connectionName(justConnected)}.`
        : "The connection finished, but it is no longer listed."
      : "";

  async function startReconnect(connection: Connection) {
    setProblem(null);
    const provider = providers.data?.providers.find((p) => p.provider === connection.provider);
    if (!provider) {
      setProblem(`${connection.provider} is no longer offered to your organisation, so it cannot be reconnected.`);
      return;
    }
    try {
      const started = await reconnect.mutateAsync({
        provider: provider.provider,
        scopes: connection.requested_scopes,
        agent_ids: connection.agent_ids,
        ...(connection.label ? { label: connection.label } : {}),
      });
      setAnnouncement(`Opening ${provider.provider} to reconnect the account…`);
      goToProvider(started.authorize_url);
    } catch (error) {
      setProblem(`${connectionName(connection)} was not reconnected: ${failure(error)}`);
    }
  }

  async function checkNow(connection: Connection) {
    setProblem(null);
    setAnnouncement(`Checking ${connectionName(connection)}…`);
    try {
      const checked = await check.mutateAsync(connection.connection_id);
      const explained = statusExplained(checked);
      setAnnouncement(
        checked.status === "active"
          ? `Checked ${connectionName(checked)}: the provider refreshed its access; it is active.`
          : `Checked ${connectionName(checked)}: ${STATUS_LABEL[checked.status].toLowerCase()}.${explained ? ` ${explained}` : ""}`,
      );
    } catch (error) {
      setAnnouncement(null);
      setProblem(`${connectionName(connection)} could not be checked: ${failure(error)}`);
    }
  }

  return (
    <main>
      <h1>Connections</h1>
      <p>
        Accounts your organisation connected (Google and other OAuth providers). The agents you allow get short-lived,
        down-scoped access tokens for them; no token is ever shown here.
      </p>
      <Announcer>{announcement ?? arrival}</Announcer>
      <Problem>{returned.error ? connectFailure(returned.error) : null}</Problem>
      <Problem>{problem}</Problem>

      <QueryState query={connections} subject="The connections" loading="Loading the connections…" />
      {connections.isSuccess && (
        <section aria-labelledby="connections-h">
          <h2 id="connections-h">Connected accounts ({list.length})</h2>
          {list.length === 0 ? (
            <p>No account is connected yet.</p>
          ) : (
            <ul className="connections">
              {list.map((connection) => (
                <ConnectionCard
                  key={connection.connection_id}
                  connection={connection}
                  agentNames={names}
                  highlighted={connection.connection_id === returned.connected}
                  busy={reconnect.isPending || check.isPending}
                  onReconnect={() => void startReconnect(connection)}
                  onCheck={() => void checkNow(connection)}
                  onEdit={() => {
                    setAnnouncement(null);
                    setEditing(connection);
                  }}
                  onDelete={() => {
                    setAnnouncement(null);
                    setDeleting(connection);
                  }}
                />
              ))}
            </ul>
          )}
        </section>
      )}

      <ConnectForm agents={agentList} onLeaving={setAnnouncement} />

      {editing && (
        <EditConnection
          connection={editing}
          agents={agentList}
          onClose={(saved) => {
            if (saved) setAnnouncement(`Saved the changes to ${connectionName(saved)}.`);
            setEditing(null);
          }}
        />
      )}
      {deleting && (
        <ConfirmDialog
          title={`Delete ${connectionName(deleting)}?`}
          confirm="Delete connection"
          danger
          onConfirm={async () => {
            const deleted = await remove.mutateAsync(deleting.connection_id);
            setAnnouncement(`Deleted ${connectionName(deleting)}; ${REVOCATION[deleted.provider_revocation]}.`);
          }}
          onClose={() => setDeleting(null)}
        >
          <p>
            VaultGuard revokes its grant at {deleting.provider} and destroys the stored tokens. Agents allowed to use it
            {deleting.agent_ids.length > 0
              ? ` (${deleting.agent_ids.map((a) => names.get(a) ?? a).join(", ")})`
              : ""}{" "}
            lose access at once. This cannot be undone: to use the account again, connect it anew.
          </p>
        </ConfirmDialog>
      )}
    </main>
  );
}
