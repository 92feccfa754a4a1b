// A workflow's run settings as a form: the concurrency key (runs with the same key go one at a
// time) and the fields masked in stored history, as JSON pointers with the payload's fields
// offered; "JSON" shows the settings as text. Keys the form does not know are kept.
import type { Json, JsonSchema } from "../../api/types";
import { MAX_POINTERS, keptSettings, pointerProblem, pointerSuggestions, runSettingsForm, settingsOf, type RunSettingsForm } from "../model/runSettings";
import { FormJsonSwitch, useEditMode } from "./Segmented";
import { useHeldForm } from "./useHeldForm";
import { JsonInput, ValueField } from "./ValueField";

type Settings = Record<string, Json> | undefined;

interface Props {
  settings: Settings;
  payloadSchema: JsonSchema | undefined;
  readOnly: boolean;
  /** Paths the expression editor offers; the concurrency key reads only the payload. */
  paths: string[];
  onChange: (settings: Settings) => void;
}

export function RunSettingsEditor({ settings, payloadSchema, readOnly, paths, onChange }: Props) {
  const form = runSettingsForm(settings);
  const { shown, choose } = useEditMode(!!form);
  return (
    <div className="run-settings" data-testid="run-settings" data-path="settings">
      <FormJsonSwitch label="Edit run settings as" shown={shown} choose={choose} cannot={form ? undefined : "These settings hold values the form cannot show"} />
      {shown === "json" || !form ? (
        <div className="field" data-field="settings">
          {!form && <p className="hint">These settings hold values the form cannot show; edit them as JSON.</p>}
          <JsonInput id="wf-settings" value={settings ?? {}} rows={3} readOnly={readOnly} onChange={(v) => onChange(v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length ? (v as Settings) : undefined)} />
        </div>
      ) : (
        <SettingsForm settings={settings} payloadSchema={payloadSchema} readOnly={readOnly} paths={paths} onChange={onChange} />
      )}
    </div>
  );
}

function SettingsForm({ settings, payloadSchema, readOnly, paths, onChange }: Props) {
  // An empty expression or a row being typed stays in the form without being written.
  const [form, update] = useHeldForm(settings, (s) => runSettingsForm(s) ?? { concurrencyKey: undefined, redact: [] }, (next, base) => ({ value: settingsOf(next, base) }), onChange);
  const set = (change: Partial<RunSettingsForm>) => update({ ...form, ...change });
  const kept = keptSettings(settings);
  return (
    <>
      <ValueField
        id="wf-concurrency-key"
        name="concurrencyKey"
        dataPath="settings.concurrencyKey"
        schema={{ type: "string", maxLength: 200, title: "Concurrency key", description: "Runs with the same key go one at a time, in the order they started (e.g. payload.threadId as an expression). Empty: runs do not wait for each other." }}
        value={form.concurrencyKey}
        required={false}
        readOnly={readOnly}
        paths={paths.filter((path) => path === "payload" || path.startsWith("payload."))}
        onChange={(v) => set({ concurrencyKey: v })}
      />
      <PointerList pointers={form.redact} suggestions={pointerSuggestions(payloadSchema, paths)} readOnly={readOnly} onChange={(redact) => set({ redact })} />
      {kept.length > 0 && <p className="hint">Also in the settings, kept as they are: {kept.map(([key, value]) => `${key} ${JSON.stringify(value)}`).join(", ")} (JSON to change).</p>}
    </>
  );
}

function PointerList({ pointers, suggestions, readOnly, onChange }: { pointers: string[]; suggestions: string[]; readOnly: boolean; onChange: (pointers: string[]) => void }) {
  return (
    <div className="field" data-field="redact" data-path="settings.redact">
      <span className="field-label">Fields to mask</span>
      {pointers.map((pointer, index) => {
        const n = index + 1;
        const problem = pointer === "" ? null : pointerProblem(pointer);
        return (
          <div key={index} className="pointer-row" data-path={`settings.redact[${index}]`}>
            <div className={`pointer-row-main ${readOnly ? "is-read-only" : ""}`}>
              <input className="mono" aria-label={`Field to mask ${n}`} aria-invalid={!!problem} placeholder="/payload/…" list="wf-redact-pointers" value={pointer} readOnly={readOnly} onChange={(e) => onChange(pointers.map((p, i) => (i === index ? e.target.value : p)))} />
              {!readOnly && (
                <button type="button" className="icon-button" aria-label={`Remove field to mask ${n}`} onClick={() => onChange(pointers.filter((_, i) => i !== index))}>
                  ×
                </button>
              )}
            </div>
            {problem && (
              <p className="field-error" role="alert">
                {problem}
              </p>
            )}
          </div>
        );
      })}
      <datalist id="wf-redact-pointers">
        {suggestions.map((pointer) => (
          <option key={pointer} value={pointer} />
        ))}
      </datalist>
      {!readOnly && (
        <button type="button" className="btn btn-small add-pointer" disabled={pointers.length >= MAX_POINTERS} onClick={() => onChange([...pointers, ""])}>
          + Add field to mask
        </button>
      )}
      <p className="hint">{pointers.length ? "JSON pointers into the run, e.g. /payload/card/number or /vars/customer/ssn: their values are masked in stored step history and in what the API returns; the run itself keeps them." : readOnly ? "Nothing is masked." : "Nothing is masked. Add a field whose value must not be stored in step history or shown by the API, e.g. /payload/card/number."}</p>
    </div>
  );
}
