import { useEffect, useState } from "react";

import type { Delegation, Session } from "../../api/client";
import { useSession } from "../../api/hooks";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { PAGES, onNavigate, withQuery } from "../../components/router";
import { formatTime } from "../../components/time";
import { EventType } from "../audit/EventType";
import { BindingMessage } from "../queue/RequestCard";
import { isForbidden, isNotFound, useDelegation, useRevoke, useTimeline } from "./api";

type Props = { delegationId: string };

/** One delegation: every fact the API gives, what happened to it, and Revoke for admins (the API
 * lets admins of either side revoke, and no approver). */
export function DelegationDetail({ delegationId }: Props) {
  const delegation = useDelegation(delegationId);
  const session = useSession().data ?? null;

  useEffect(() => {
    document.title = "Delegation · VaultGuard";
  }, []);

  const back = (
    <p>
      <a href={PAGES.delegations.path} onClick={onNavigate(PAGES.delegations.path)}>
        All delegations
      </a>
    </p>
  );
  if (delegation.isPending) {
    return (
      <main>
        {back}
        <p role="status">Loading the delegation…</p>
      </main>
    );
  }
  if (delegation.isError) {
    return (
      <main>
        {back}
        <h1>{isNotFound(delegation.error) ? "Delegation not found" : "Delegation"}</h1>
        <p role="alert">
          {isNotFound(delegation.error)
            ? "There is no delegation with this id that your organisation is party to."
            : `The delegation could not be loaded: ${delegation.error.message}`}
        </p>
      </main>
    );
  }
  const d = delegation.data;
  return (
    <main className="delegation-detail">
      {back}
      <h1>
        Delegation: <code>{d.action}</code> <span className={`status status-${d.status.toLowerCase()}`}>{d.status}</span>
      </h1>
      <Facts d={d} session={session} />
      <BindingMessage text={d.binding_message} />
      {session?.role === "admin" && <Revoke d={d} session={session} />}
      <Timeline delegationId={d.delegation_id} />
    </main>
  );
}

/** The organisation names: this tenant's own as the session knows it, the counterpart's as the
 * delegation recorded it at creation; the id where neither is known. */
export function parties(d: Delegation, session: Session | null): { requesting: string; receiving: string } {
  const own = session?.tenant_name ?? null;
  const requesting = (d.direction === "outbound" ? own : null) ?? d.requesting_tenant_name ?? d.requesting_tenant_id;
  const receiving = (d.direction === "inbound" ? own : null) ?? d.receiving_tenant_name ?? d.receiving_tenant_id;
  return { requesting, receiving };
}

function Facts({ d, session }: { d: Delegation; session: Session | null }) {
  const { requesting, receiving } = parties(d, session);
  return (
    <dl className="facts">
      <dt>Delegation id</dt>
      <dd>
        <code>{d.delegation_id}</code>
      </dd>
      <dt>Direction</dt>
      <dd>{d.direction === "inbound" ? "Inbound (asked of us)" : "Outbound (asked by our agent)"}</dd>
      <dt>Requesting organisation</dt>
      <dd>{requesting}</dd>
      <dt>Receiving organisation</dt>
      <dd>{receiving}</dd>
      <dt>Agent</dt>
      <dd>{d.agent_name ? `${d.agent_name} (${d.agent_id})` : d.agent_id}</dd>
      <dt>Action</dt>
      <dd>
        <code>{d.action}</code>
      </dd>
      <dt>Decision</dt>
      <dd>{d.decision ?? "—"}</dd>
      <dt>Status</dt>
      <dd>{d.status}</dd>
      <dt>Purpose</dt>
      <dd>{d.purpose ?? "None given"}</dd>
      <dt>Requested</dt>
      <dd>{formatTime(d.created_at)}</dd>
      <dt>Expires</dt>
      <dd>{formatTime(d.expires_at ?? d.stepup_expires_at)}</dd>
      {d.decided_at && (
        <>
          <dt>Decided</dt>
          <dd>
            {formatTime(d.decided_at)}
            {d.decided_by ? ` by ${d.decided_by}` : ""}
          </dd>
        </>
      )}
      {d.decision_reason && (
        <>
          <dt>Reason given</dt>
          <dd>{d.decision_reason}</dd>
        </>
      )}
      {d.revoked_at && (
        <>
          <dt>Revoked</dt>
          <dd>
            {formatTime(d.revoked_at)}
            {d.revoked_by ? ` by ${d.revoked_by}` : ""}
            {d.revoked_by_tenant_id && !d.revoked_by ? ` by an administrator of ${d.revoked_by_tenant_id}` : ""}
          </dd>
        </>
      )}
    </dl>
  );
}

function Revoke({ d, session }: { d: Delegation; session: Session }) {
  const [asking, setAsking] = useState(false);
  const [done, setDone] = useState(false);
  const revoke = useRevoke(d.delegation_id);
  const { requesting, receiving } = parties(d, session);
  const agent = d.agent_name ?? d.agent_id;
  return (
    <>
      {d.status === "ACTIVE" && (
        <div className="actions">
          <button type="button" className="danger" onClick={() => setAsking(true)}>
            Revoke
          </button>
        </div>
      )}
      <p role="status">{done ? "The delegation was revoked." : ""}</p>
      {asking && (
        <ConfirmDialog
          title="Revoke this delegation?"
          confirm="Revoke delegation"
          danger
          onConfirm={() => revoke.mutateAsync()}
          onClose={(ok) => {
            setAsking(false);
            setDone(ok);
          }}
        >
          <p>
            {requesting}'s agent {agent} loses <code>{d.action}</code> at {receiving} at once: its token stops
            verifying and is refused from now on, even before it expires ({formatTime(d.expires_at)}).
          </p>
          <p>This cannot be undone; the agent would have to ask again.</p>
        </ConfirmDialog>
      )}
    </>
  );
}

function Timeline({ delegationId }: { delegationId: string }) {
  const timeline = useTimeline(delegationId);
  return (
    <section aria-labelledby="timeline-heading">
      <h2 id="timeline-heading">Timeline</h2>
      {timeline.isPending && <p role="status">Loading the timeline…</p>}
      {timeline.isError &&
        (isForbidden(timeline.error) ? (
          <p>Your role cannot read the audit log, so this delegation's timeline is not shown.</p>
        ) : (
          <p role="alert">The timeline could not be loaded: {timeline.error.message}</p>
        ))}
      {timeline.isSuccess &&
        (timeline.data.length === 0 ? (
          <p>No events recorded.</p>
        ) : (
          <ol className="timeline">
            {timeline.data.map((e) => (
              <li key={e.event_id}>
                <EventType type={e.type} />{" "}
                <time dateTime={e.occurred_at}>{formatTime(e.occurred_at)}</time>, by {e.actor.type}{" "}
                <code>{e.actor.id}</code>
              </li>
            ))}
          </ol>
        ))}
      {timeline.isSuccess && (
        <p>
          <a
            href={withQuery(PAGES.audit.path, { delegation_id: delegationId })}
            onClick={onNavigate(withQuery(PAGES.audit.path, { delegation_id: delegationId }))}
          >
            This delegation in the audit log
          </a>
        </p>
      )}
    </section>
  );
}
