import { useId, useState, type FormEvent } from "react";

import { ApiError } from "../../api/client";
import { useEvaluation, type Evaluation } from "./api";
import { checkQuestion, describePolicy } from "./form";

type Props = {
  /** Told of each answer (to highlight the deciding policy), or null when the question changed. */
  onAnswer: (answer: Evaluation | null) => void;
};

/** "What would happen?": the decision a delegation request would get now, and why (a dry run). */
export function EvaluatePanel({ onAnswer }: Props) {
  const [requester, setRequester] = useState("");
  const [action, setAction] = useState("");
  const [errors, setErrors] = useState<Partial<Record<"requester" | "action", string>>>({});
  const evaluation = useEvaluation();
  const id = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    const checked = checkQuestion(requester, action);
    if ("errors" in checked) {
      setErrors(checked.errors);
      return;
    }
    setErrors({});
    try {
      onAnswer(await evaluation.mutateAsync(checked.body));
    } catch {
      onAnswer(null);
    }
  }

  const answer = evaluation.data;
  const failure = evaluation.error;
  return (
    <section className="evaluate" aria-labelledby={`${id}-heading`}>
      <h2 id={`${id}-heading`}>What would happen?</h2>
      <p className="hint">A dry run of this organisation's policies: nothing is requested or recorded.</p>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <div className="field">
          <label htmlFor={`${id}-requester`}>Requesting tenant id</label>
          <input
            id={`${id}-requester`}
            value={requester}
            placeholder="tnt_…"
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => setRequester(e.target.value)}
            aria-invalid={errors.requester ? true : undefined}
            aria-describedby={errors.requester ? `${id}-requester-error` : undefined}
          />
          {errors.requester && (
            <p id={`${id}-requester-error`} className="problem">
              {errors.requester}
            </p>
          )}
        </div>
        <div className="field">
          <label htmlFor={`${id}-action`}>Action</label>
          <input
            id={`${id}-action`}
            value={action}
            placeholder="stock.write"
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => setAction(e.target.value)}
            aria-invalid={errors.action ? true : undefined}
            aria-describedby={errors.action ? `${id}-action-error` : undefined}
          />
          {errors.action && (
            <p id={`${id}-action-error`} className="problem">
              {errors.action}
            </p>
          )}
        </div>
        <div className="actions">
          <button type="submit" disabled={evaluation.isPending}>
            Evaluate
          </button>
        </div>
      </form>
      <div role="status" className="evaluation">
        {answer && !failure && (
          <>
            <p className="decision-line">
              Decision: <strong className={`effect effect-${answer.decision.toLowerCase()}`}>{answer.decision}</strong>
            </p>
            <p>{answer.explanation}</p>
            <p>
              {answer.policy ? (
                <>
                  Deciding policy: <code>{describePolicy(answer.policy)}</code> ({answer.policy.effect}), marked in the
                  list.
                </>
              ) : (
                "No policy decides: without a matching policy a request is blocked."
              )}
            </p>
          </>
        )}
      </div>
      {failure && (
        <p role="alert" className="problem">
          {failure instanceof ApiError
            ? `VaultGuard could not evaluate this: ${failure.message}`
            : "VaultGuard could not be reached."}
        </p>
      )}
    </section>
  );
}
