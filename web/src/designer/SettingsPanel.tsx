// Workflow-wide settings when no step is selected: name, description, triggers and the payload
// schema (as forms, with JSON beside them), run settings, output — and a summary of what the
// workflow holds.
import type { Definition, Json } from "../api/types";
import { PayloadSchemaEditor } from "./fields/PayloadSchemaEditor";
import { TriggersEditor } from "./fields/TriggersEditor";
import { RunSettingsEditor } from "./fields/RunSettingsEditor";
import { ValueField } from "./fields/ValueField";
import type { Trigger } from "./model/triggers";
import { walk } from "./model/tree";

export function SettingsPanel({ doc, readOnly, paths, onChange }: { doc: Definition; readOnly: boolean; paths: string[]; onChange: (doc: Definition) => void }) {
  const set = (name: string, value: unknown) => {
    const next = { ...doc } as Record<string, unknown>;
    if (value === undefined) delete next[name];
    else next[name] = value;
    onChange(next as Definition);
  };
  const count = walk(doc).length;
  return (
    <aside className="panel" aria-label="Workflow settings" data-testid="settings-panel">
      <header className="panel-header">
        <div className="panel-title">
          <div className="muted small">Workflow</div>
          <h2>{doc.name || doc.key}</h2>
          <div className="mono muted small">{doc.key} · {count} step{count === 1 ? "" : "s"}</div>
        </div>
      </header>
      <div className="panel-body">
        <p className="hint">Select a step on the canvas to edit it. These settings apply to the whole workflow.</p>
        <section className="panel-section">
          <h3>About</h3>
          <ValueField id="wf-name" name="name" schema={{ type: "string", maxLength: 200 }} value={doc.name} required={false} readOnly={readOnly} paths={paths} allowExpression={false} onChange={(v) => set("name", v)} />
          <ValueField id="wf-description" name="description" schema={{ type: "string" }} value={doc.description} required={false} readOnly={readOnly} paths={paths} allowExpression={false} onChange={(v) => set("description", v)} />
        </section>
        <section className="panel-section">
          <h3>Triggers</h3>
          <p className="hint">What starts a run besides the API: an event, a schedule, or a person.</p>
          <TriggersEditor triggers={(doc.triggers ?? []) as Trigger[]} payloadSchema={doc.payloadSchema} readOnly={readOnly} onChange={(v) => set("triggers", v)} />
        </section>
        <section className="panel-section">
          <h3>Payload schema</h3>
          <p className="hint">The fields of a run's input; they are checked when a run starts and offered when you write expressions.</p>
          <PayloadSchemaEditor schema={doc.payloadSchema} readOnly={readOnly} onChange={(v) => set("payloadSchema", v)} />
        </section>
        <section className="panel-section">
          <h3>Run settings</h3>
          <p className="hint">How the runs of this workflow are ordered, and what their stored history must not show.</p>
          <RunSettingsEditor settings={doc.settings} payloadSchema={doc.payloadSchema} readOnly={readOnly} paths={paths} onChange={(v) => set("settings", v)} />
        </section>
        <section className="panel-section">
          <h3>Output</h3>
          <ValueField id="wf-output" name="output" schema={{ description: "The run's output when it finishes (often an expression such as vars.result)." }} value={doc.output as Json | undefined} required={false} readOnly={readOnly} paths={paths} onChange={(v) => set("output", v)} />
        </section>
      </div>
    </aside>
  );
}
