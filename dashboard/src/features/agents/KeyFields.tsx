import { useId } from "react";

import { Problem } from "../../components/Feedback";
import type { KeyKind } from "./keys";

type Props = { kind: KeyKind; text: string; onText: (text: string) => void; error: string | null };

/** The agent's public keys: pasted as a JWK (or JWK set), or the URL where it publishes them. */
export function KeyInput({ kind, text, onText, error }: Props) {
  const id = useId();
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const common = {
    id: `${id}-field`,
    value: text,
    spellCheck: false,
    autoComplete: "off",
    "aria-invalid": error ? true : undefined,
    "aria-describedby": error ? `${hintId} ${errorId}` : hintId,
  } as const;
  return (
    <div className="key-input">
      {kind === "jwks" ? (
        <>
          <label htmlFor={common.id}>Public key (JWK or JWK set)</label>
          <textarea {...common} rows={6} onChange={(event) => onText(event.target.value)} />
          <p id={hintId} className="hint">
            Only the public key: the agent keeps its private key and signs its token requests with it
            (private_key_jwt).
          </p>
        </>
      ) : (
        <>
          <label htmlFor={common.id}>Key set URL (jwks_uri)</label>
          <input {...common} type="url" inputMode="url" onChange={(event) => onText(event.target.value)} />
          <p id={hintId} className="hint">
            Where the agent publishes its public JWK set (https); VaultGuard fetches it now and caches it.
          </p>
        </>
      )}
      <Problem id={errorId}>{error}</Problem>
    </div>
  );
}

type ChoiceProps<T extends string> = {
  legend: string;
  name: string;
  value: T;
  options: readonly (readonly [T, string])[];
  onChange: (value: T) => void;
};

/** A set of radio buttons under a legend. */
export function Choice<T extends string>({ legend, name, value, options, onChange }: ChoiceProps<T>) {
  return (
    <fieldset className="sign-in-choice">
      <legend>{legend}</legend>
      {options.map(([option, label]) => (
        <label key={option} className="choice">
          <input type="radio" name={name} value={option} checked={value === option} onChange={() => onChange(option)} />{" "}
          {label}
        </label>
      ))}
    </fieldset>
  );
}
