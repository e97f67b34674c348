import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useRef, useState } from "react";

import { ApiError, getDelegation, type Decision, type Delegation } from "../../api/client";
import { keys, useDecision } from "../../api/hooks";
import { Problem } from "../../components/Feedback";
import { formatTime } from "../../components/time";
import { describe } from "./describe";
import { BindingMessage } from "./RequestCard";

export type Pending = { delegation: Delegation; decision: Decision };

const WORDS: Record<Decision, { title: string; confirm: string; done: string }> = {
  approve: { title: "Approve this request?", confirm: "Confirm approval", done: "Approved" },
  reject: { title: "Reject this request?", confirm: "Confirm rejection", done: "Rejected" },
};

type Props = { pending: Pending; onClose: (announcement?: string) => void };

/** The confirmation: the binding message again, an optional reason, then the decision. */
export function DecisionDialog({ pending, onClose }: Props) {
  const { delegation: d, decision } = pending;
  const words = WORDS[decision];
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const reasonId = useId();
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const mutation = useDecision();
  const client = useQueryClient();

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);

  async function submit() {
    setProblem(null);
    try {
      await mutation.mutateAsync({ delegationId: d.delegation_id, decision, reason });
      onClose(`${words.done}: ${describe(d)}`);
    } catch (error) {
      if (!(error instanceof ApiError)) {
        setProblem("VaultGuard could not be reached; nothing was decided. Try again.");
        return;
      }
      if (error.status === 401 && error.body.error === "reauth_required" && error.body.login_url) {
        window.location.assign(error.body.login_url); // sign in again, then back to the queue
        return;
      }
      if (error.status === 401) {
        await client.invalidateQueries({ queryKey: keys.session });
        return;
      }
      if (error.status === 409) {
        setProblem(await whoDecided(d.delegation_id));
        return;
      }
      setProblem(error.message);
    }
  }

  return (
    <dialog ref={dialog} aria-labelledby={titleId} className="decision" onCancel={() => onClose()}>
      <h2 id={titleId}>{words.title}</h2>
      <p>{describe(d)}.</p>
      <BindingMessage text={d.binding_message} />
      <p>Purpose: {d.purpose ?? "None given"}</p>
      <label htmlFor={reasonId}>Reason (optional)</label>
      <textarea id={reasonId} value={reason} maxLength={500} rows={3} onChange={(e) => setReason(e.target.value)} />
      <Problem>{problem}</Problem>
      <div className="actions">
        <button
          type="button"
          className={decision === "approve" ? "primary" : "danger"}
          onClick={() => void submit()}
          disabled={mutation.isPending || problem !== null}
        >
          {words.confirm}
        </button>
        <button type="button" onClick={() => onClose()}>
          {problem !== null ? "Close" : "Cancel"}
        </button>
      </div>
    </dialog>
  );
}

/** After a 409: how the request was decided, by whom and when, as the API tells it. */
async function whoDecided(delegationId: string): Promise<string> {
  try {
    const now = await getDelegation(delegationId);
    const how: Record<Delegation["status"], string> = {
      ACTIVE: "approved",
      REJECTED: "rejected",
      REVOKED: "revoked",
      EXPIRED: "expired",
      PENDING: "still pending",
    };
    const who = now.decided_by ? ` by ${now.decided_by}` : "";
    const when = now.decided_at ? ` at ${formatTime(now.decided_at)}` : "";
    const why = now.decision_reason ? ` Reason given: “${now.decision_reason}”.` : "";
    return `Someone else decided first: this request was ${how[now.status]}${who}${when}.${why}`;
  } catch {
    return "Someone else decided this request first.";
  }
}
