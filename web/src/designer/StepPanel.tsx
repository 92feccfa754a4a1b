// The side panel of the selected step: its form (from the node's JSON Schema, the action's input
// schema, or the control step's fields), the rule builder for conditions, retry policy, and
// move / delete.
import { Link } from "react-router-dom";
import type { ActionInfo, Condition, Json, JsonSchema, NodeType, Problem, Step } from "../api/types";
import { FilterField } from "./fields/FilterField";
import { RuleBuilder } from "./fields/RuleBuilder";
import { SchemaFields } from "./fields/SchemaFields";
import { JsonInput, ValueField } from "./fields/ValueField";
import { waitFilterPaths } from "./model/filters";
import { isControl } from "./model/tree";
import { typeInfo } from "./steps";

export interface RunsHere {
  version: number;
  count: number;
  latest: boolean;
}

interface Props {
  step: Step;
  /** Active runs at this step, per version (for the link to the migration view). */
  runsHere?: RunsHere[];
  workflowKey?: string;
  nodes: NodeType[];
  actions: ActionInfo[];
  problems: Problem[];
  readOnly: boolean;
  paths: string[];
  onChange: (step: Step) => void;
  onDelete: () => void;
  onShift: (delta: -1 | 1) => void;
  onClose: () => void;
}

const RETRY_SCHEMA: JsonSchema = {
  type: "object",
  properties: {
    maxAttempts: { type: "integer", minimum: 1, description: "Tries in all, the first included." },
    backoffMs: { type: "integer", minimum: 0, description: "Wait before the second try, in milliseconds; doubled after each." },
  },
};

const str = { type: "string" };
const CONTROL_SCHEMAS: Record<string, { schema: JsonSchema; skip?: string[] }> = {
  "control.forEach": {
    schema: {
      type: "object",
      required: ["items"],
      properties: {
        items: { description: "An expression giving the list to go through." },
        itemVar: { ...str, description: "Each item is vars.<this> (default item)." },
        concurrency: { type: "integer", minimum: 1, description: "Items in flight at once (default 1)." },
        collect: { description: "Evaluated at the end of each item; the results are stored at Save as." },
        saveAs: { ...str, description: "Where the collected results go, e.g. vars.results." },
        onItemError: { enum: ["fail", "continue"], description: "What a failed item does." },
      },
    },
  },
  "control.parallel": { schema: { type: "object", properties: { saveAs: { ...str, description: "Gets each branch's vars by branch id." } } } },
  "control.tryCatch": { schema: { type: "object", properties: { captureErrorAs: { ...str, description: "Where the caught error is stored, e.g. vars.error." } } } },
  "control.callWorkflow": {
    schema: {
      type: "object",
      required: ["workflowKey"],
      properties: {
        workflowKey: str,
        version: { description: 'A version number, or "latest".' },
        inputMapping: { type: "object", description: "The child run's payload." },
        saveAs: { ...str, description: "Where the child's output goes." },
        wait: { type: "boolean", description: "Wait for the child to finish (default yes)." },
      },
    },
  },
  "control.return": { schema: { type: "object", properties: { output: { description: "The run's output." } } } },
  "control.fail": { schema: { type: "object", required: ["message"], properties: { message: str, category: str } } },
};

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <section className="panel-section">
      <h3>{title}</h3>
      {children}
    </section>
  );
}

export function StepPanel({ step, runsHere = [], workflowKey = "", nodes, actions, problems, readOnly, paths, onChange, onDelete, onShift, onClose }: Props) {
  const info = typeInfo(step.type);
  const config = (step.config ?? {}) as Record<string, Json>;
  const setConfig = (next: Record<string, Json>) => onChange({ ...step, config: next });
  const setField = (name: string, value: unknown) => {
    const next = { ...step } as Record<string, unknown>;
    if (value === undefined) delete next[name];
    else next[name] = value;
    onChange(next as Step);
  };
  const node = nodes.find((candidate) => candidate.type === step.type);
  const id = step.id.replace(/[^\w-]/g, "_");

  let body: React.ReactNode = null;
  if (step.type === "action.call") {
    const action = actions.find((a) => a.actionId === config.actionId && a.version === (config.version ?? 1));
    body = (
      <>
        <Section title="Action">
          <div className="field" data-field="actionId">
            <label htmlFor={`${id}-action`}>
              Action<span className="required"> *</span>
            </label>
            <select
              id={`${id}-action`}
              value={config.actionId ? `${config.actionId}@${config.version ?? 1}` : ""}
              disabled={readOnly}
              onChange={(e) => {
                const [actionId, version] = e.target.value.split("@");
                setConfig({ ...config, actionId: actionId ?? "", version: Number(version ?? 1), inputMapping: {} });
              }}
            >
              <option value="">choose an action…</option>
              {actions.map((a) => (
                <option key={`${a.actionId}@${a.version}`} value={`${a.actionId}@${a.version}`}>
                  {a.actionId} v{a.version}
                </option>
              ))}
            </select>
            {action && (
              <p className="hint">
                {action.description} <span className={`pill ${action.effect === "none" ? "pill-ok" : "pill-warn"}`}>{action.effect === "none" ? "no side effects" : action.effect.replace("_", " ")}</span>
              </p>
            )}
          </div>
        </Section>
        {action ? (
          <Section title="Input">
            <SchemaFields
              idPrefix={`${id}-in`}
              schema={action.inputSchema}
              value={(config.inputMapping ?? {}) as Record<string, Json>}
              readOnly={readOnly}
              paths={paths}
              onChange={(inputMapping) => setConfig({ ...config, inputMapping })}
            />
          </Section>
        ) : (
          config.actionId && <div className="alert alert-warn">The action {String(config.actionId)} v{String(config.version ?? 1)} is not registered on this server.</div>
        )}
        <Section title="Output">
          <ValueField id={`${id}-saveAs`} name="saveAs" schema={{ type: "string", maxLength: 100, description: "Where the action's output is stored, e.g. vars.result." }} value={config.saveAs} required={false} readOnly={readOnly} paths={paths} allowExpression={false} onChange={(v) => setConfig({ ...config, ...(v === undefined ? {} : { saveAs: v }) })} />
          <ValueField id={`${id}-idem`} name="idempotencyKey" schema={{ description: "Calls with the same key run once (default: the run and step)." }} value={config.idempotencyKey} required={false} readOnly={readOnly} paths={paths} onChange={(v) => {
            const next = { ...config };
            if (v === undefined) delete next.idempotencyKey;
            else next.idempotencyKey = v;
            setConfig(next);
          }} />
        </Section>
      </>
    );
  } else if (step.type === "transform.assign") {
    const assign = (config.assign ?? {}) as Record<string, Json>;
    body = (
      <Section title="Values">
        <AssignEditor id={id} assign={assign} readOnly={readOnly} paths={paths} onChange={(next) => setConfig({ ...config, assign: next })} />
      </Section>
    );
  } else if (step.type === "human.task") {
    body = (
      <Section title="Task">
        <SchemaFields idPrefix={`${id}-cfg`} schema={node?.configSchema ?? {}} value={config} readOnly={readOnly} paths={paths} skip={["formSchema"]} onChange={setConfig} />
        <div className="field" data-field="formSchema">
          <label htmlFor={`${id}-form`}>Form (JSON Schema)<span className="required"> *</span></label>
          <JsonInput id={`${id}-form`} value={config.formSchema} readOnly={readOnly} onChange={(v) => setConfig({ ...config, formSchema: v ?? {} })} />
        </div>
      </Section>
    );
  } else if (step.type === "event.wait") {
    body = (
      <Section title="Settings">
        <SchemaFields idPrefix={`${id}-cfg`} schema={node?.configSchema ?? { type: "object" }} value={config} readOnly={readOnly} paths={paths} skip={["filter"]} onChange={setConfig} />
        <FilterField
          key={step.id}
          id={`${id}-filter`}
          label="Only an event where"
          hint="Rules on the arriving event (e.g. event.payload.status) and on the run as it was when the wait began (payload, vars). No rules: the first event of this name and key."
          value={config.filter}
          paths={waitFilterPaths(paths)}
          placeholders={{ field: "event.payload.status", expression: "e.g. event.payload.total > vars.limit" }}
          readOnly={readOnly}
          onChange={(filter) => {
            const next = { ...config };
            if (filter === undefined) delete next.filter;
            else next.filter = filter as Json;
            setConfig(next);
          }}
        />
      </Section>
    );
  } else if (!isControl(step.type)) {
    body = (
      <Section title="Settings">
        <SchemaFields idPrefix={`${id}-cfg`} schema={node?.configSchema ?? { type: "object" }} value={config} readOnly={readOnly} paths={paths} onChange={setConfig} />
      </Section>
    );
  } else if (step.type === "control.if") {
    body = (
      <Section title="Condition">
        <p className="hint">When it holds the run takes “Yes”, otherwise “No”.</p>
        <RuleBuilder id={`${id}-cond`} condition={step.condition as Condition} readOnly={readOnly} paths={paths} onChange={(c) => setField("condition", c)} />
      </Section>
    );
  } else if (step.type === "control.switch") {
    const cases = (Array.isArray(step.cases) ? step.cases : []) as { id: string; name?: string; when?: Condition; steps: Step[] }[];
    const setCases = (next: typeof cases) => setField("cases", next);
    body = (
      <Section title="Cases (the first match wins)">
        {cases.map((c, index) => (
          <div key={c.id} className="case-box">
            <div className="case-head">
              <input aria-label={`Name of case ${index + 1}`} value={c.name ?? ""} placeholder={c.id} readOnly={readOnly} onChange={(e) => setCases(cases.map((x, i) => (i === index ? { ...x, name: e.target.value || undefined } : x)))} />
              {!readOnly && (
                <button type="button" className="icon-button" aria-label={`Remove case ${c.name ?? c.id}`} onClick={() => setCases(cases.filter((_, i) => i !== index))}>
                  ×
                </button>
              )}
            </div>
            <RuleBuilder id={`${id}-case-${index}`} condition={c.when} readOnly={readOnly} paths={paths} onChange={(when) => setCases(cases.map((x, i) => (i === index ? { ...x, when: when as Condition } : x)))} />
          </div>
        ))}
        {!readOnly && cases.length < 20 && (
          <button type="button" className="btn btn-small" onClick={() => setCases([...cases, { id: `${step.id}-case-${cases.length + 1}`, name: `Case ${cases.length + 1}`, when: { field: "", op: "equals", value: "" } as Condition, steps: [] }])}>
            + Add case
          </button>
        )}
      </Section>
    );
  } else if (step.type === "control.parallel") {
    const branches = (Array.isArray(step.branches) ? step.branches : []) as { id: string; steps: Step[] }[];
    body = (
      <>
        <Section title="Branches">
          <ul className="plain-list">
            {branches.map((b) => (
              <li key={b.id}>
                <span className="mono">{b.id}</span> <span className="muted">· {b.steps.length} steps</span>
                {!readOnly && branches.length > 1 && (
                  <button type="button" className="link-button" onClick={() => setField("branches", branches.filter((x) => x.id !== b.id))}>
                    remove
                  </button>
                )}
              </li>
            ))}
          </ul>
          {!readOnly && (
            <button type="button" className="btn btn-small" onClick={() => setField("branches", [...branches, { id: `${step.id}-${String.fromCharCode(97 + branches.length)}`, steps: [] }])}>
              + Add branch
            </button>
          )}
        </Section>
        <Section title="Settings">
          <ControlFields id={id} step={step} readOnly={readOnly} paths={paths} onChange={onChange} />
        </Section>
      </>
    );
  } else {
    body = (
      <Section title="Settings">
        <ControlFields id={id} step={step} readOnly={readOnly} paths={paths} onChange={onChange} />
      </Section>
    );
  }

  return (
    <aside className="panel" aria-label="Step settings" data-testid="step-panel">
      <header className="panel-header">
        <div className={`panel-icon tone-${info.tone}`} aria-hidden>
          {info.icon}
        </div>
        <div className="panel-title">
          <div className="muted small">{info.label}</div>
          <input className="title-input" aria-label="Step name" placeholder={step.id} value={step.name ?? ""} readOnly={readOnly} onChange={(e) => setField("name", e.target.value || undefined)} />
          <div className="mono muted small">id: {step.id}</div>
        </div>
        <button type="button" className="icon-button" aria-label="Close the step panel" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="panel-body">
        {info.help && <p className="hint">{info.help}</p>}
        {runsHere.length > 0 && (
          <div className="runs-here" data-testid="runs-here">
            {runsHere.map((here) => (
              <div key={here.version}>
                <strong>{here.count}</strong> active run{here.count === 1 ? "" : "s"} here on v{here.version}
                {!here.latest && (
                  <>
                    {" "}
                    · <Link to={`/workflows/${encodeURIComponent(workflowKey)}/migrate?from=${here.version}&step=${encodeURIComponent(step.id)}`}>move them…</Link>
                  </>
                )}
              </div>
            ))}
          </div>
        )}
        {problems.length > 0 && (
          <div className="alert alert-error" role="alert">
            <strong>{problems.length === 1 ? "1 problem" : `${problems.length} problems`} to fix</strong>
            <ul>
              {problems.map((problem, index) => (
                <li key={index}>{problem.message}</li>
              ))}
            </ul>
          </div>
        )}
        {body}
        {!isControl(step.type) && (
          <Section title="Errors and retries">
            <SchemaFields
              idPrefix={`${id}-retry`}
              schema={RETRY_SCHEMA}
              value={(step.retry ?? {}) as Record<string, Json>}
              readOnly={readOnly}
              paths={paths}
              allowExpression={false}
              onChange={(retry) => setField("retry", Object.keys(retry).length ? retry : undefined)}
            />
            <ValueField id={`${id}-onError`} name="onError" schema={{ enum: ["fail", "continue"], description: "After the last try: fail the run, or continue with the next step." }} value={step.onError} required={false} readOnly={readOnly} paths={paths} allowExpression={false} onChange={(v) => setField("onError", v)} />
            <ValueField id={`${id}-timeout`} name="timeoutMs" schema={{ type: "integer", description: "Give up on one try after this many milliseconds." }} value={step.timeoutMs} required={false} readOnly={readOnly} paths={paths} allowExpression={false} onChange={(v) => setField("timeoutMs", v)} />
          </Section>
        )}
      </div>
      {!readOnly && (
        <footer className="panel-footer">
          <button type="button" className="btn btn-small" onClick={() => onShift(-1)} aria-label="Move the step up" title="Move up (Alt+↑)">
            ↑ Up
          </button>
          <button type="button" className="btn btn-small" onClick={() => onShift(1)} aria-label="Move the step down" title="Move down (Alt+↓)">
            ↓ Down
          </button>
          <span className="spacer" />
          <button type="button" className="btn btn-small btn-danger" onClick={onDelete}>
            Delete step
          </button>
        </footer>
      )}
    </aside>
  );
}

function ControlFields({ id, step, readOnly, paths, onChange }: { id: string; step: Step; readOnly: boolean; paths: string[]; onChange: (step: Step) => void }) {
  const spec = CONTROL_SCHEMAS[step.type];
  if (!spec) return null;
  const properties = Object.keys((spec.schema.properties ?? {}) as object);
  const value = Object.fromEntries(properties.filter((name) => step[name] !== undefined).map((name) => [name, step[name] as Json]));
  return (
    <SchemaFields
      idPrefix={`${id}-ctl`}
      schema={spec.schema}
      value={value}
      readOnly={readOnly}
      paths={paths}
      onChange={(next) => {
        const copy = { ...step } as Record<string, unknown>;
        for (const name of properties) delete copy[name];
        onChange({ ...copy, ...next } as Step);
      }}
    />
  );
}

function AssignEditor({ id, assign, readOnly, paths, onChange }: { id: string; assign: Record<string, Json>; readOnly: boolean; paths: string[]; onChange: (assign: Record<string, Json>) => void }) {
  const entries = Object.entries(assign);
  const rename = (from: string, to: string) => onChange(Object.fromEntries(entries.map(([k, v]) => (k === from ? [to, v] : [k, v]))));
  return (
    <div className="fields">
      {entries.map(([path, value], index) => (
        <div key={index} className="assign-row">
          <input className="mono" aria-label="Store at" value={path} readOnly={readOnly} onChange={(e) => rename(path, e.target.value)} />
          <ValueField id={`${id}-assign-${index}`} name="value" schema={{}} value={value} required readOnly={readOnly} paths={paths} onChange={(v) => onChange({ ...assign, [path]: v ?? null })} />
          {!readOnly && (
            <button type="button" className="link-button" onClick={() => onChange(Object.fromEntries(entries.filter(([k]) => k !== path)))}>
              remove
            </button>
          )}
        </div>
      ))}
      {!readOnly && (
        <button type="button" className="btn btn-small" onClick={() => onChange({ ...assign, [`vars.value${entries.length + 1}`]: { $expr: "" } })}>
          + Add value
        </button>
      )}
    </div>
  );
}
