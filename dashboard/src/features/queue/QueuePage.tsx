import type { PageProps } from "../../components/router";
import { useEffect, useRef, useState } from "react";

import { usePendingQueue } from "../../api/hooks";
import { Announcer, QueryState } from "../../components/Feedback";
import { DecisionDialog, type Pending } from "./DecisionDialog";
import { describe } from "./describe";
import { RequestCard } from "./RequestCard";

const TITLE = "Pending requests · VaultGuard";

/** The approvers' home: step-up requests waiting for this tenant, refreshed while visible. */
export function QueuePage(_props: PageProps) {
  const queue = usePendingQueue(true);
  const [announcement, setAnnouncement] = useState("");
  const [pending, setPending] = useState<Pending | null>(null);
  const seen = useRef<Set<string> | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const requests = queue.data?.delegations ?? [];
  // The countdowns start when the page's body arrived, not at the last poll (a 304 keeps the body).
  const fetchedAt = queue.data?.receivedAt ?? queue.dataUpdatedAt;
  const count = requests.length;

  useEffect(() => {
    document.title = count > 0 ? `(${count}) ${TITLE}` : TITLE;
    return () => {
      document.title = "VaultGuard";
    };
  }, [count]);

  useEffect(() => {
    if (queue.data === undefined) return;
    const pending = queue.data.delegations;
    const ids = new Set(pending.map((d) => d.delegation_id));
    const before = seen.current;
    seen.current = ids;
    if (before === null) return; // the first load announces nothing; the list itself says it
    const fresh = pending.filter((d) => !before.has(d.delegation_id));
    if (fresh.length === 1 && fresh[0]) setAnnouncement(`New request: ${describe(fresh[0])}`);
    else if (fresh.length > 1) setAnnouncement(`${fresh.length} new requests`);
  }, [queue.data]);

  return (
    <main>
      <h1 ref={heading} tabIndex={-1}>
        Pending requests
      </h1>
      <Announcer>{announcement}</Announcer>
      <QueryState query={queue} subject="The queue" loading="Loading the queue…" />
      {queue.isSuccess && count === 0 && <p>Nothing is waiting for a decision.</p>}
      {count > 0 && (
        <p className="count">
          {count === 1 ? "1 request waits" : `${count} requests wait`} for a decision. Read the binding message
          before you decide: it is what the agent's user was shown.
        </p>
      )}
      <ul className="requests" aria-label="Requests">
        {requests.map((d) => (
          <li key={d.delegation_id}>
            <RequestCard
              delegation={d}
              fetchedAt={fetchedAt}
              onDecide={(decision) => setPending({ delegation: d, decision })}
            />
          </li>
        ))}
      </ul>
      {pending && (
        <DecisionDialog
          pending={pending}
          onClose={(message) => {
            setPending(null);
            if (message) {
              setAnnouncement(message);
              heading.current?.focus(); // the decided request is gone: keyboard users start here
            }
          }}
        />
      )}
    </main>
  );
}

