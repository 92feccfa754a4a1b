// A row of buttons of which one is on (how a value is made, how a list is edited), and the
// Form/JSON switch the workflow settings' editors share: the form when it can show the value,
// the JSON always.
import { useState } from "react";

export function Segmented<T extends string>({ label, value, options, onChange, disabled = false }: { label: string; value: T; options: { value: T; label: string; disabled?: boolean; title?: string }[]; onChange: (value: T) => void; disabled?: boolean }) {
  return (
    <div className="rules-mode" role="group" aria-label={label}>
      {options.map((option) => (
        <button key={option.value} type="button" className={`seg ${value === option.value ? "is-on" : ""}`} aria-pressed={value === option.value} disabled={disabled || option.disabled} title={option.title} onClick={() => onChange(option.value)}>
          {option.label}
        </button>
      ))}
    </div>
  );
}

export type EditMode = "form" | "json";

/** The mode chosen, and the one shown: JSON whenever the form cannot show the value. */
export function useEditMode(formCan: boolean): { shown: EditMode; choose: (mode: EditMode) => void } {
  const [mode, setMode] = useState<EditMode>("form");
  return { shown: formCan ? mode : "json", choose: setMode };
}

/** "Form | JSON" above an editor; ``cannot`` says why the form is off, when it is. */
export function FormJsonSwitch({ label, shown, choose, formLabel = "Form", cannot }: { label: string; shown: EditMode; choose: (mode: EditMode) => void; formLabel?: string; cannot?: string }) {
  return (
    <div className="section-tools">
      <Segmented
        label={label}
        value={shown}
        options={[
          { value: "form", label: formLabel, disabled: !!cannot, title: cannot },
          { value: "json", label: "JSON" },
        ]}
        onChange={choose}
      />
    </div>
  );
}
