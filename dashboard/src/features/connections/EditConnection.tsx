import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { failure } from "../../components/failure";
import { FormFooter } from "../../components/Feedback";
import type { Agent } from "../agents/api";
import { useUpdateConnection, type Connection, type ConnectionChange } from "./api";
import { Checkboxes } from "./Checkboxes";
import { connectionName } from "./words";

/** A modal form for what an admin may change: the label, the allowed agents, and the scopes agents may ask
 * for (within those the provider granted). `onClose(saved)` gets the changed connection, or null. */
export function EditConnection({
  connection,
  agents,
  onClose,
}: {
  connection: Connection;
  agents: Agent[];
  onClose: (saved: Connection | null) => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const update = useUpdateConnection();
  const id = useId();
  const [label, setLabel] = useState(connection.label ?? "");
  const [agentIds, setAgentIds] = useState<string[]>(connection.agent_ids);
  const [allowed, setAllowed] = useState<string[]>(connection.allowed_scopes);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);

  // Agents that are no longer active stay listed while the connection names them, so they can be taken off.
  const choices = agents
    .filter((a) => a.status === "ACTIVE" || connection.agent_ids.includes(a.agent_id))
    .map((a) => ({ value: a.agent_id, label: a.status === "ACTIVE" ? a.name : `${a.name} (disabled)` }));
  const granted = connection.granted_scopes;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const change: ConnectionChange = { agent_ids: agentIds };
    if (label.trim() !== (connection.label ?? "")) change.label = label.trim();
    if (granted.length > 0) change.allowed_scopes = allowed;
    try {
      onClose(await update.mutateAsync({ connectionId: connection.connection_id, change }));
    } catch (error) {
      setProblem(`Nothing was changed: ${failure(error, "VaultGuard could not be reached.")}`);
    }
  }

  return (
    <dialog ref={dialog} aria-labelledby={`${id}-h`} className="decision" onCancel={() => onClose(null)}>
      <form onSubmit={(event) => void submit(event)} noValidate className="connection-edit">
        <h2 id={`${id}-h`}>Edit {connectionName(connection)}</h2>
        <label htmlFor={`${id}-label`}>Label</label>
        <input id={`${id}-label`} value={label} maxLength={100} onChange={(event) => setLabel(event.target.value)} />
        <Checkboxes
          legend="Agents allowed to use it"
          options={choices}
          checked={agentIds}
          onChange={setAgentIds}
          empty="No agent is registered yet."
        />
        <Checkboxes
          legend="Scopes agents may ask for"
          options={granted.map((s) => ({ value: s, label: s }))}
          checked={allowed}
          onChange={setAllowed}
          empty="The provider has granted no scope yet: finish connecting first."
        />
        <FormFooter problem={problem} busy={update.isPending} submit="Save changes">
          <button type="button" onClick={() => onClose(null)}>
            Cancel
          </button>
        </FormFooter>
      </form>
    </dialog>
  );
}
