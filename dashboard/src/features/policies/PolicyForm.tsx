import { useEffect, useId, useRef, useState, type FormEvent } from "react";

import { ApiError } from "../../api/client";
import { FormFooter } from "../../components/Feedback";
import { EFFECTS, useSavePolicy, type Effect, type Policy } from "./api";
import { checkDraft, draftOf, EMPTY_DRAFT, STEPUP_EXPIRY, TTL, type Draft, type DraftErrors } from "./form";

const EFFECT_HINTS: Record<Effect, string> = {
  ALLOW: "a token at once",
  STEP_UP: "a person of this organisation approves first",
  BLOCK: "refused",
};

type Props = {
  /** The policy being edited, or null for a new one. */
  editing: Policy | null;
  onSaved: (policy: Policy) => void;
  onCancel: () => void;
};

/** Create a policy, or change the effect and timings of one (its action and requesting
 * organisation identify it). The API's refusal is shown beside the form. */
export function PolicyForm({ editing, onSaved, onCancel }: Props) {
  const [draft, setDraft] = useState<Draft>(() => (editing ? draftOf(editing) : EMPTY_DRAFT));
  const [errors, setErrors] = useState<DraftErrors>({});
  const [problem, setProblem] = useState<string | null>(null);
  const save = useSavePolicy();
  const form = useRef<HTMLFormElement>(null);
  const id = useId();
  const ids = {
    heading: `${id}-heading`,
    action: `${id}-action`,
    actionHint: `${id}-action-hint`,
    requester: `${id}-requester`,
    ttl: `${id}-ttl`,
    ttlHint: `${id}-ttl-hint`,
    stepup: `${id}-stepup`,
    keysHint: `${id}-keys-hint`,
    dpopHint: `${id}-dpop-hint`,
  };
  const focusInvalid = useRef(false);
  useEffect(() => {
    if (!focusInvalid.current) return;
    focusInvalid.current = false;
    form.current?.querySelector<HTMLElement>("[aria-invalid='true']")?.focus();
  }, [errors]);
  const set = (change: Partial<Draft>) => setDraft((d) => ({ ...d, ...change }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    const checked = checkDraft(draft);
    if ("errors" in checked) {
      focusInvalid.current = true;
      setErrors(checked.errors);
      return;
    }
    setErrors({});
    try {
      const saved = await save.mutateAsync(checked.body);
      if (!editing) setDraft(EMPTY_DRAFT);
      onSaved(saved);
    } catch (error) {
      setProblem(
        error instanceof ApiError
          ? `VaultGuard refused the policy: ${error.message}`
          : "VaultGuard could not be reached; nothing changed.",
      );
    }
  }

  const invalid = (name: keyof DraftErrors) => (errors[name] ? { "aria-invalid": true as const } : {});
  const described = (...names: (string | false | undefined)[]) => names.filter(Boolean).join(" ") || undefined;
  return (
    <form ref={form} className="policy-form" aria-labelledby={ids.heading} noValidate onSubmit={(e) => void submit(e)}>
      <h2 id={ids.heading}>{editing ? "Edit policy" : "New policy"}</h2>
      {editing && (
        <p>The action and the requesting organisation identify a policy: to change them, create a new policy and delete this one.</p>
      )}
      <div className="field">
        <label htmlFor={ids.action}>Action</label>
        <input
          id={ids.action}
          value={draft.action}
          readOnly={editing !== null}
          autoComplete="off"
          spellCheck={false}
          onChange={(e) => set({ action: e.target.value })}
          aria-describedby={described(ids.actionHint, errors.action && `${ids.action}-error`)}
          {...invalid("action")}
        />
        <p id={ids.actionHint} className="hint">
          One action (stock.write) or every action under a prefix (stock.*).
        </p>
        {errors.action && <p id={`${ids.action}-error`} className="problem">{errors.action}</p>}
      </div>
      <fieldset>
        <legend>Effect</legend>
        {EFFECTS.map((effect) => (
          <label key={effect} className="choice">
            <input
              type="radio"
              name={`${id}-effect`}
              value={effect}
              checked={draft.effect === effect}
              onChange={() => set({ effect })}
            />{" "}
            {effect} <span className="hint">({EFFECT_HINTS[effect]})</span>
          </label>
        ))}
      </fieldset>
      <fieldset disabled={editing !== null}>
        <legend>Requesting organisation</legend>
        <label className="choice">
          <input
            type="radio"
            name={`${id}-who`}
            checked={draft.anyRequester}
            onChange={() => set({ anyRequester: true })}
          />{" "}
          Any organisation
        </label>
        <label className="choice">
          <input
            type="radio"
            name={`${id}-who`}
            checked={!draft.anyRequester}
            onChange={() => set({ anyRequester: false })}
          />{" "}
          One organisation
        </label>
        {!draft.anyRequester && (
          <div className="field">
            <label htmlFor={ids.requester}>Requesting tenant id</label>
            <input
              id={ids.requester}
              value={draft.requester}
              autoComplete="off"
              spellCheck={false}
              placeholder="tnt_…"
              onChange={(e) => set({ requester: e.target.value })}
              aria-describedby={described(errors.requester && `${ids.requester}-error`)}
              {...invalid("requester")}
            />
            {errors.requester && <p id={`${ids.requester}-error`} className="problem">{errors.requester}</p>}
          </div>
        )}
      </fieldset>
      <div className="field">
        <label htmlFor={ids.ttl}>Maximum token lifetime (seconds)</label>
        <input
          id={ids.ttl}
          type="number"
          inputMode="numeric"
          min={TTL.min}
          max={TTL.max}
          value={draft.ttl}
          onChange={(e) => set({ ttl: e.target.value })}
          aria-describedby={described(ids.ttlHint, errors.ttl && `${ids.ttl}-error`)}
          {...invalid("ttl")}
        />
        <p id={ids.ttlHint} className="hint">
          An agent asking for longer gets this; one asking for nothing gets this too.
        </p>
        {errors.ttl && <p id={`${ids.ttl}-error`} className="problem">{errors.ttl}</p>}
      </div>
      <div className="field">
        <label htmlFor={ids.stepup}>Step-up expiry (seconds)</label>
        <input
          id={ids.stepup}
          type="number"
          inputMode="numeric"
          min={STEPUP_EXPIRY.min}
          max={STEPUP_EXPIRY.max}
          value={draft.stepupExpiry}
          onChange={(e) => set({ stepupExpiry: e.target.value })}
          aria-describedby={described(errors.stepupExpiry && `${ids.stepup}-error`)}
          {...invalid("stepupExpiry")}
        />
        {errors.stepupExpiry && <p id={`${ids.stepup}-error`} className="problem">{errors.stepupExpiry}</p>}
      </div>
      <fieldset>
        <legend>Agent requirements</legend>
        <label className="choice">
          <input
            type="checkbox"
            checked={draft.requirePrivateKeyJwt}
            onChange={(e) => set({ requirePrivateKeyJwt: e.target.checked })}
            aria-describedby={ids.keysHint}
          />{" "}
          Require key-based agents (private_key_jwt)
        </label>
        <p id={ids.keysHint} className="hint">
          An agent that signed in with a client secret is blocked, as if no policy matched.
        </p>
        <label className="choice">
          <input
            type="checkbox"
            checked={draft.requireDpop}
            onChange={(e) => set({ requireDpop: e.target.checked })}
            aria-describedby={ids.dpopHint}
          />{" "}
          Require DPoP-bound tokens
        </label>
        <p id={ids.dpopHint} className="hint">
          The token only works together with the agent's key: a stolen token alone is useless.
        </p>
      </fieldset>
      <FormFooter problem={problem} busy={save.isPending} submit={editing ? "Save changes" : "Create policy"}>
        {editing && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </FormFooter>
    </form>
  );
}
