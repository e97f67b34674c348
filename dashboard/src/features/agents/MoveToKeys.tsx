import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { ConfirmDialog } from "../../components/ConfirmDialog";
import { useReplaceAgentKeys, type Agent, type KeysBody } from "./api";
import { Choice, KeyInput } from "./KeyFields";
import { checkKeys, type KeyKind } from "./keys";

export const KEY_KINDS = [
  ["jwks", "Paste its public key"],
  ["uri", "Its key set URL"],
] as const;

type Props = { agent: Agent; onMoved: (agent: Agent) => void; onCancel: () => void };

/** Move a secret-based agent to keys: the keys first, then a confirmation, since its secret
 * (and every token it got with it) stops working at once. */
export function MoveToKeys({ agent, onMoved, onCancel }: Props) {
  const replace = useReplaceAgentKeys();
  const id = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  const [kind, setKind] = useState<KeyKind>("jwks");
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<KeysBody | null>(null);

  useEffect(() => heading.current?.focus(), []);

  function submit(event: FormEvent) {
    event.preventDefault();
    const checked = checkKeys(kind, text);
    if ("error" in checked) {
      setError(checked.error);
      return;
    }
    setError(null);
    setConfirming(checked.body);
  }

  return (
    <form className="admin-form" aria-labelledby={`${id}-h`} noValidate onSubmit={submit}>
      <h2 id={`${id}-h`} ref={heading} tabIndex={-1}>
        Move “{agent.name}” to keys
      </h2>
      <p>
        The agent will sign its token requests with a private key instead of sending a client secret. Give VaultGuard
        its public key.
      </p>
      <Choice legend="Public key" name={`${id}-kind`} value={kind} options={KEY_KINDS} onChange={setKind} />
      <KeyInput kind={kind} text={text} onText={setText} error={error} />
      <div className="row-actions">
        <button type="submit" className="primary">
          Move to keys
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {confirming && (
        <ConfirmDialog
          title={`Stop the client secret of “${agent.name}”?`}
          confirm="Move to keys"
          danger
          onConfirm={async () => onMoved(await replace.mutateAsync({ agentId: agent.agent_id, body: confirming }))}
          onClose={() => setConfirming(null)}
        >
          <p>
            Its client secret, and the tokens it got with it, stop working at once: the agent must already be set up
            to sign in with its private key. It cannot go back to a secret.
          </p>
        </ConfirmDialog>
      )}
    </form>
  );
}
