// The workflow's triggers as forms: on an event (name, subject, filter, payload mapping, re-entry),
// on a schedule (cron with presets, time zone, what slots missed during an outage become, payload)
// or by hand; "JSON" shows the list as text for pasting or for what the forms do not say. Every
// edit is one change of the draft.
import type { Condition, Json, JsonSchema } from "../../api/types";
import { CATCH_UP, CRON_PRESETS, EVENT_PATHS, REENTRY, TRIGGER_TYPES, filterPaths, mappingFromSchema, moveAt, newTrigger, replaceAt, type Trigger, type TriggerType, windowHours, windowMs } from "../model/triggers";
import { ExpressionEditor } from "./ExpressionEditor";
import { ExpressionField } from "./ExpressionField";
import { FilterField } from "./FilterField";
import { FormJsonSwitch, Segmented, useEditMode } from "./Segmented";
import { JsonInput, ValueField, isExpr } from "./ValueField";

interface Props {
  triggers: Trigger[];
  payloadSchema: JsonSchema | undefined;
  readOnly: boolean;
  onChange: (triggers: Trigger[] | undefined) => void;
}

export function TriggersEditor({ triggers, payloadSchema, readOnly, onChange }: Props) {
  const known = triggers.every((t) => TRIGGER_TYPES.some((kind) => kind.type === t.type));
  const { shown, choose } = useEditMode(known);
  const save = (next: Trigger[]) => onChange(next.length ? next : undefined);
  return (
    <div className="triggers" data-testid="triggers">
      <FormJsonSwitch label="Edit triggers as" shown={shown} choose={choose} cannot={known ? undefined : "A trigger of a kind the form does not know: edit it as JSON"} />
      {shown === "json" ? (
        <div className="field" data-field="triggers">
          {!known && <p className="hint">A trigger of a kind the form does not know is here; edit the list as JSON.</p>}
          <JsonInput id="wf-triggers" value={triggers} readOnly={readOnly} onChange={(v) => save(Array.isArray(v) ? (v as Trigger[]) : [])} />
        </div>
      ) : (
        <>
          {triggers.length === 0 && <p className="hint">No triggers: runs start through the API or by hand from the console.</p>}
          {triggers.map((trigger, index) => (
            <TriggerCard
              key={index}
              index={index}
              count={triggers.length}
              trigger={trigger}
              payloadSchema={payloadSchema}
              readOnly={readOnly}
              onChange={(next) => save(replaceAt(triggers, index, next))}
              onMove={(delta) => save(moveAt(triggers, index, delta))}
            />
          ))}
          {!readOnly && (
            <div className="add-row">
              {TRIGGER_TYPES.map((kind) => (
                <button key={kind.type} type="button" className="btn btn-small" onClick={() => save([...triggers, newTrigger(kind.type)])}>
                  {kind.add}
                </button>
              ))}
            </div>
          )}
        </>
      )}
    </div>
  );
}

function TriggerCard({ index, count, trigger, payloadSchema, readOnly, onChange, onMove }: { index: number; count: number; trigger: Trigger; payloadSchema: JsonSchema | undefined; readOnly: boolean; onChange: (trigger: Trigger | undefined) => void; onMove: (delta: -1 | 1) => void }) {
  const id = `wf-trigger-${index}`;
  const path = `triggers[${index}]`;
  const n = index + 1;
  const set = (name: string, value: Json | Condition | undefined) => {
    const next = { ...trigger };
    if (value === undefined) delete next[name];
    else next[name] = value;
    onChange(next);
  };
  let body: React.ReactNode = null;
  if (trigger.type === "event") {
    const reentry = REENTRY.find((option) => option.value === (trigger.reentry ?? "always")) ?? REENTRY[0]!;
    body = (
      <>
        <ValueField id={`${id}-eventName`} name="eventName" dataPath={`${path}.eventName`} schema={{ type: "string", maxLength: 200, title: "Event name", description: "e.g. contact.created" }} value={trigger.eventName} required readOnly={readOnly} paths={[]} allowExpression={false} onChange={(v) => set("eventName", v ?? "")} />
        <ExpressionField id={`${id}-subject`} name="subject" path={`${path}.subject`} label="Subject (correlation key)" hint="The run's business key, e.g. event.payload.contactId. Default: the event's key." value={trigger.subject} paths={EVENT_PATHS} readOnly={readOnly} onChange={(v) => set("subject", v)} />
        <div className="field" data-field="reentry" data-path={`${path}.reentry`}>
          <label htmlFor={`${id}-reentry`}>Start a run again for the same subject</label>
          <select id={`${id}-reentry`} value={reentry.value} disabled={readOnly} onChange={(e) => set("reentry", e.target.value)}>
            {REENTRY.map((option) => (
              <option key={option.value} value={option.value}>
                {option.label}
              </option>
            ))}
          </select>
          <p className="hint">{reentry.help}</p>
        </div>
        <FilterField
          id={`${id}-filter`}
          path={`${path}.filter`}
          label="Only when"
          hint="Rules on the event, e.g. event.payload.plan contains pro. No rules: every event of this name starts a run."
          value={trigger.filter}
          paths={filterPaths(trigger, payloadSchema)}
          placeholders={{ field: "event.payload.plan", expression: "e.g. event.payload.plan = 'pro'" }}
          readOnly={readOnly}
          onChange={(v) => set("filter", v)}
        />
        <PayloadField id={`${id}-payloadMapping`} name="payloadMapping" path={`${path}.payloadMapping`} label="Run payload" fromEvent value={trigger.payloadMapping} payloadSchema={payloadSchema} readOnly={readOnly} onChange={(v) => set("payloadMapping", v)} />
      </>
    );
  } else if (trigger.type === "schedule") {
    const cron = typeof trigger.cron === "string" ? trigger.cron : "";
    const preset = CRON_PRESETS.find((p) => p.cron === cron.trim());
    // a value written as JSON that is none of the three stays shown (publishing names it)
    const written = trigger.catchUp ?? "latest";
    const catchUp = CATCH_UP.find((option) => option.value === written) ?? { value: JSON.stringify(written), label: `${JSON.stringify(written)} (not a choice)`, help: "Not one of the choices: pick one from the list." };
    const catchUps = CATCH_UP.includes(catchUp) ? CATCH_UP : [...CATCH_UP, catchUp];
    body = (
      <>
        <div className="field" data-field="cron" data-path={`${path}.cron`}>
          <label htmlFor={`${id}-cron`}>
            When<span className="required"> *</span>
          </label>
          <input id={`${id}-cron`} className="mono" aria-label={`Cron of trigger ${n}`} value={cron} readOnly={readOnly} placeholder="minute hour day month weekday" onChange={(e) => set("cron", e.target.value)} />
          <select aria-label={`Schedule of trigger ${n}`} value={preset?.cron ?? ""} disabled={readOnly} onChange={(e) => e.target.value && set("cron", e.target.value)}>
            {!preset && <option value="">Custom (the cron above)</option>}
            {CRON_PRESETS.map((p) => (
              <option key={p.cron} value={p.cron}>
                {p.label}
              </option>
            ))}
          </select>
          <p className="hint">Cron: minute, hour, day of month, month, day of week; e.g. 30 8 * * 1-5 is 8:30 on weekdays.</p>
        </div>
        <div className="field" data-field="timezone" data-path={`${path}.timezone`}>
          <label htmlFor={`${id}-timezone`}>Time zone</label>
          <input id={`${id}-timezone`} list="wf-time-zones" value={typeof trigger.timezone === "string" ? trigger.timezone : ""} placeholder="UTC" readOnly={readOnly} onChange={(e) => set("timezone", e.target.value || undefined)} />
          <TimeZones />
        </div>
        <div className="field" data-field="catchUp" data-path={`${path}.catchUp`}>
          <label htmlFor={`${id}-catchUp`}>Slots missed while no worker ran</label>
          <select id={`${id}-catchUp`} value={catchUp.value} disabled={readOnly} onChange={(e) => set("catchUp", e.target.value === "latest" ? undefined : e.target.value)}>
            {catchUps.map((option) => (
              <option key={option.value} value={option.value} disabled={!CATCH_UP.includes(option)}>
                {option.label}
              </option>
            ))}
          </select>
          <p className="hint">{catchUp.help}</p>
        </div>
        <div className="field" data-field="catchUpWindowMs" data-path={`${path}.catchUpWindowMs`}>
          <label htmlFor={`${id}-catchUpWindowMs`}>Catch up at most (hours back)</label>
          <input id={`${id}-catchUpWindowMs`} type="number" min="0" step="any" value={windowHours(trigger.catchUpWindowMs)} placeholder="no limit" readOnly={readOnly} onChange={(e) => set("catchUpWindowMs", windowMs(e.target.value))} />
          <p className="hint">A missed slot older than this never runs, whatever is chosen above. Blank: no limit.</p>
        </div>
        <PayloadField id={`${id}-payload`} name="payload" path={`${path}.payload`} label="Run payload" fromEvent={false} value={trigger.payload} payloadSchema={payloadSchema} readOnly={readOnly} onChange={(v) => set("payload", v)} />
      </>
    );
  } else {
    body = <p className="hint">Started from the console or through the API (POST /api/runs) with a payload you give.</p>;
  }
  return (
    <div className="trigger-card" data-testid={`trigger-${index}`} data-path={path}>
      <div className="trigger-head">
        <select aria-label={`Kind of trigger ${n}`} value={String(trigger.type)} disabled={readOnly} onChange={(e) => onChange(newTrigger(e.target.value as TriggerType))}>
          {TRIGGER_TYPES.map((kind) => (
            <option key={kind.type} value={kind.type}>
              {kind.label}
            </option>
          ))}
        </select>
        {!readOnly && (
          <>
            <button type="button" className="icon-button" aria-label={`Move trigger ${n} up`} disabled={index === 0} onClick={() => onMove(-1)}>
              ↑
            </button>
            <button type="button" className="icon-button" aria-label={`Move trigger ${n} down`} disabled={index === count - 1} onClick={() => onMove(1)}>
              ↓
            </button>
            <button type="button" className="icon-button" aria-label={`Remove trigger ${n}`} onClick={() => onChange(undefined)}>
              ×
            </button>
          </>
        )}
      </div>
      {body}
    </div>
  );
}

let zones: string[] | null = null;
function TimeZones() {
  zones ??= (() => {
    try {
      return ["UTC", ...(Intl as unknown as { supportedValuesOf(key: string): string[] }).supportedValuesOf("timeZone")];
    } catch {
      return ["UTC"];
    }
  })();
  return (
    <datalist id="wf-time-zones">
      {zones.map((zone) => (
        <option key={zone} value={zone} />
      ))}
    </datalist>
  );
}

type PayloadMode = "default" | "fields" | "expression";

/** A run's start payload: the default (the event's payload, or nothing for a schedule), field by
 * field (each a literal or an expression), or one expression. */
function PayloadField({ id, name, path, label, fromEvent, value, payloadSchema, readOnly, onChange }: { id: string; name: string; path: string; label: string; fromEvent: boolean; value: Json | undefined; payloadSchema: JsonSchema | undefined; readOnly: boolean; onChange: (value: Json | undefined) => void }) {
  const isFields = !!value && typeof value === "object" && !Array.isArray(value) && !isExpr(value);
  const mode: PayloadMode | "json" = value === undefined ? "default" : isExpr(value) ? "expression" : isFields ? "fields" : "json";
  const entries = isFields ? Object.entries(value as Record<string, Json>) : [];
  const schemaNames = Object.keys((payloadSchema?.properties as Record<string, unknown> | undefined) ?? {});
  const choose = (next: PayloadMode) => {
    if (next === mode) return;
    if (next === "default") onChange(undefined);
    else if (next === "expression") onChange({ $expr: fromEvent ? "event.payload" : "{}" });
    else onChange(fromEvent ? mappingFromSchema(payloadSchema) : {});
  };
  // a name another field has is not taken (the two would become one)
  const rename = (from: string, to: string) => to !== from && !entries.some(([k]) => k === to) && onChange(Object.fromEntries(entries.map(([k, v]) => (k === from ? [to, v] : [k, v]))));
  const blank = (field: string): Json => {
    const type = ((payloadSchema?.properties as Record<string, JsonSchema> | undefined)?.[field]?.type as string | undefined) ?? "string";
    return type === "string" ? "" : type === "boolean" ? false : type === "number" || type === "integer" ? 0 : null;
  };
  const unused = schemaNames.find((field) => !entries.some(([k]) => k === field));
  return (
    <div className="field" data-field={name} data-path={path}>
      <span className="field-label">{label}</span>
      <Segmented<PayloadMode>
        label={`${label}: how it is made`}
        value={mode as PayloadMode}
        options={[
          { value: "default", label: fromEvent ? "Event payload" : "Empty" },
          { value: "fields", label: "Field by field" },
          { value: "expression", label: "Expression" },
        ]}
        disabled={readOnly}
        onChange={choose}
      />
      {mode === "expression" && (
        <ExpressionEditor id={id} value={(value as { $expr: string }).$expr} paths={fromEvent ? EVENT_PATHS : []} readOnly={readOnly} onChange={(text) => onChange({ $expr: text })} />
      )}
      {mode === "json" && <JsonInput id={id} value={value} readOnly={readOnly} onChange={onChange} />}
      {mode === "fields" && (
        <div className="fields">
          {entries.map(([field, fieldValue], index) => (
            <div key={index} className="assign-row">
              <input className="mono" aria-label={`${label}: name of field ${index + 1}`} value={field} readOnly={readOnly} list={`${id}-names`} onChange={(e) => rename(field, e.target.value)} />
              <ValueField id={`${id}-${index}`} name={field || "value"} schema={(payloadSchema?.properties as Record<string, JsonSchema> | undefined)?.[field] ?? {}} value={fieldValue} required={false} readOnly={readOnly} paths={fromEvent ? EVENT_PATHS : []} onChange={(v) => onChange({ ...(value as Record<string, Json>), [field]: v ?? null })} />
              {!readOnly && (
                <button type="button" className="link-button" onClick={() => onChange(Object.fromEntries(entries.filter(([k]) => k !== field)))}>
                  remove
                </button>
              )}
            </div>
          ))}
          <datalist id={`${id}-names`}>
            {schemaNames.map((field) => (
              <option key={field} value={field} />
            ))}
          </datalist>
          {!readOnly && (
            <button
              type="button"
              className="btn btn-small"
              onClick={() => {
                const fresh = unused ?? `field${entries.length + 1}`;
                onChange({ ...(value as Record<string, Json>), [fresh]: fromEvent ? { $expr: `event.payload.${fresh}` } : blank(fresh) });
              }}
            >
              + Add field
            </button>
          )}
        </div>
      )}
      <p className="hint">
        {mode === "default"
          ? fromEvent
            ? "Each run starts with the event's payload as it is."
            : "Each run starts with an empty payload."
          : mode === "json"
            ? "This payload is not an object of fields; it is shown as JSON."
            : fromEvent
              ? "Expressions here read the event, e.g. event.payload.email."
              : "The payload each scheduled run starts with."}
      </p>
    </div>
  );
}
