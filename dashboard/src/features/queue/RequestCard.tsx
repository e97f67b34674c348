import type { Decision, Delegation } from "../../api/client";
import { formatRemaining, useNow } from "../../components/time";

type Props = { delegation: Delegation; fetchedAt: number; onDecide: (decision: Decision) => void };

/** One pending request; every string from the API is rendered as text. */
export function RequestCard({ delegation: d, fetchedAt, onDecide }: Props) {
  const now = useNow();
  const titleId = `request-${d.delegation_id}`;
  const remaining =
    d.expires_in === null ? null : Math.max(0, Math.round((fetchedAt + d.expires_in * 1000 - now) / 1000));
  return (
    <article className="request" aria-labelledby={titleId}>
      <h2 id={titleId}>
        {d.requesting_tenant_name ?? d.requesting_tenant_id} asks for <code>{d.action}</code>
      </h2>
      <dl className="facts">
        <dt>Requesting organisation</dt>
        <dd>{d.requesting_tenant_name ?? d.requesting_tenant_id}</dd>
        <dt>Agent</dt>
        <dd>{d.agent_name ?? d.agent_id}</dd>
        <dt>Action</dt>
        <dd>{d.action}</dd>
        <dt>Purpose</dt>
        <dd>{d.purpose ?? "None given"}</dd>
      </dl>
      <BindingMessage text={d.binding_message} />
      {remaining !== null && <p className="countdown">{formatRemaining(remaining)}</p>}
      <div className="actions">
        <button type="button" className="primary" onClick={() => onDecide("approve")} disabled={remaining === 0}>
          Approve
        </button>
        <button type="button" className="danger" onClick={() => onDecide("reject")} disabled={remaining === 0}>
          Reject
        </button>
      </div>
    </article>
  );
}

/** What the agent's user was shown: verbatim, prominent, and the thing to check. */
export function BindingMessage({ text }: { text: string | null }) {
  return (
    <figure className="binding">
      <figcaption>Binding message</figcaption>
      <p className="binding-message">{text ?? "(the agent sent no binding message)"}</p>
    </figure>
  );
}
