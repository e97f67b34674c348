import { useId } from "react";

import { Problem } from "../../components/Feedback";

type Option = { value: string; label: string };

/** A fieldset of checkboxes (its legend names the group): the checked values, in the options' order. */
export function Checkboxes({
  legend,
  options,
  checked,
  onChange,
  empty,
  problem = null,
}: {
  legend: string;
  options: Option[];
  checked: readonly string[];
  onChange: (values: string[]) => void;
  empty?: string;
  problem?: string | null;
}) {
  const id = useId();
  return (
    <fieldset className="choices" aria-describedby={problem ? `${id}-problem` : undefined}>
      <legend>{legend}</legend>
      {options.length === 0 && <p className="hint">{empty ?? "None."}</p>}
      {options.map((option, index) => (
        <div key={option.value} className="choice">
          <input
            id={`${id}-${index}`}
            type="checkbox"
            checked={checked.includes(option.value)}
            onChange={(event) => {
              const on = event.target.checked;
              onChange(options.map((o) => o.value).filter((v) => (v === option.value ? on : checked.includes(v))));
            }}
          />
          <label htmlFor={`${id}-${index}`}>{option.label}</label>
        </div>
      ))}
      <Problem id={`${id}-problem`}>{problem}</Problem>
    </fieldset>
  );
}
