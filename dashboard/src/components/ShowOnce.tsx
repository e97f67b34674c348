import { useEffect, useId, useRef, useState, type ReactNode } from "react";

import "./showOnce.css";

/** One thing the API answers once (a client secret, a signing secret, an invitation link). */
export type OnceValue = { label: string; value: string };

type Props = {
  /** The dialog's title ("Copy the client secret of “billing-bot” now"). */
  title: string;
  /** What the values are for, shown above them. */
  children?: ReactNode;
  values: OnceValue[];
  /** Closed: the caller drops the values (they live only in its state). */
  onClose: () => void;
};

/** A modal showing values that VaultGuard answers once and never again, each with a Copy
 * button. It keeps nothing: the values are props, gone from the page once the caller closes it. */
export function ShowOnce({ title, children, values, onClose }: Props) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [copied, setCopied] = useState("");

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);

  async function copy(item: OnceValue) {
    try {
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(item.value);
      setCopied(`${item.label} copied to the clipboard.`);
    } catch {
      setCopied(`Your browser did not let the page copy. Select the ${item.label.toLowerCase()} and copy it yourself.`);
    }
  }

  return (
    <dialog
      ref={dialog}
      aria-labelledby={titleId}
      className="decision show-once"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      {children}
      <p className="once-warning">
        <strong>Shown once:</strong> you will not see it again. Store it where it is needed now; if it is lost, make
        a new one.
      </p>
      {values.map((item) => (
        <OnceItem key={item.label} item={item} onCopy={() => void copy(item)} />
      ))}
      <p role="status" className="copied">
        {copied}
      </p>
      <div className="actions">
        <button type="button" className="primary" onClick={onClose}>
          Done
        </button>
      </div>
    </dialog>
  );
}

function OnceItem({ item, onCopy }: { item: OnceValue; onCopy: () => void }) {
  return (
    <div className="once-item">
      <p className="once-label">
        {item.label}
      </p>
      <p className="once-value">
        <code>{item.value}</code>
      </p>
      <button type="button" aria-label={`Copy ${item.label.toLowerCase()}`} onClick={onCopy}>
        Copy
      </button>
    </div>
  );
}
