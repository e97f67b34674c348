import { useEffect, useId, useRef, useState, type ReactNode } from "react";

import { failure } from "./failure";
import { Problem } from "./Feedback";

type Props = {
  /** The dialog's title, a question ("Revoke this delegation?"). */
  title: string;
  /** What is about to happen, in full: the thing's name, its consequences. */
  children: ReactNode;
  /** The confirming button's text ("Revoke"), and whether the action destroys something. */
  confirm: string;
  danger?: boolean;
  /** Does the action; a rejection is shown in the dialog (the API's error description). */
  onConfirm: () => Promise<unknown>;
  /** Closed: `done` is true once the action succeeded. */
  onClose: (done: boolean) => void;
};

/** A modal confirmation (the native <dialog>: focus moves in, Escape cancels, focus returns). */
export function ConfirmDialog({ title, children, confirm, danger = false, onConfirm, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);

  async function run() {
    setBusy(true);
    setProblem(null);
    try {
      await onConfirm();
      onClose(true);
    } catch (error) {
      setProblem(failure(error));
      setBusy(false);
    }
  }

  return (
    <dialog ref={dialog} aria-labelledby={titleId} className="decision" onCancel={() => onClose(false)}>
      <h2 id={titleId}>{title}</h2>
      {children}
      <Problem>{problem}</Problem>
      <div className="actions">
        <button type="button" className={danger ? "danger" : "primary"} onClick={() => void run()} disabled={busy}>
          {confirm}
        </button>
        <button type="button" onClick={() => onClose(false)}>
          Cancel
        </button>
      </div>
    </dialog>
  );
}
