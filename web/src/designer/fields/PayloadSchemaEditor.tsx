// The payload schema as a list of fields (name, type, required, description), or as JSON for a
// schema the list cannot say - the designer then says what it could not show, and drops nothing.
import type { JsonSchema } from "../../api/types";
import { FIELD_TYPES, fieldListProblem, fieldsOf, schemaOf, type FieldType, type SchemaField } from "../model/payloadSchema";
import { FormJsonSwitch, useEditMode } from "./Segmented";
import { useHeldForm } from "./useHeldForm";
import { JsonInput } from "./ValueField";

interface Props {
  schema: JsonSchema | undefined;
  readOnly: boolean;
  onChange: (schema: JsonSchema | undefined) => void;
}

export function PayloadSchemaEditor({ schema, readOnly, onChange }: Props) {
  const list = fieldsOf(schema);
  const { shown, choose } = useEditMode(!!list.fields);
  return (
    <div className="payload-schema" data-testid="payload-schema">
      <FormJsonSwitch label="Edit the payload schema as" shown={shown} choose={choose} formLabel="Fields" cannot={list.fields ? undefined : "This schema says more than a list of fields can"} />
      {!list.fields && (
        <div className="alert alert-warn" data-testid="schema-unsupported">
          The field list cannot show all of this schema, so it is edited as JSON (nothing is dropped). Not in the list: {list.unsupported.join("; ")}.
        </div>
      )}
      {shown === "json" || !list.fields ? (
        <div className="field" data-field="payloadSchema" data-path="payloadSchema">
          <label htmlFor="wf-payload-schema">Payload schema (JSON Schema)</label>
          <JsonInput id="wf-payload-schema" value={schema} rows={6} readOnly={readOnly} onChange={(v) => onChange(v && typeof v === "object" && !Array.isArray(v) ? (v as JsonSchema) : undefined)} />
        </div>
      ) : (
        <FieldList schema={schema} fields={list.fields} readOnly={readOnly} onChange={onChange} />
      )}
    </div>
  );
}

function FieldList({ schema, fields, readOnly, onChange }: { schema: JsonSchema | undefined; fields: SchemaField[]; readOnly: boolean; onChange: (schema: JsonSchema | undefined) => void }) {
  // The rows are kept while a name is missing or taken twice (typing "name2" past a field "name").
  const [rows, update] = useHeldForm(schema, () => fields, (next, base) => (fieldListProblem(next) === null ? { value: schemaOf(next, base) } : null), onChange);
  const problem = fieldListProblem(rows);
  const edit = (index: number, change: Partial<SchemaField>) => update(rows.map((row, i) => (i === index ? { ...row, ...change } : row)));
  const kept = Object.entries(schema ?? {}).filter(([keyword]) => !["type", "properties", "required"].includes(keyword));
  return (
    <div className="schema-fields">
      {rows.length === 0 && <p className="hint">No fields yet: a run may start with any payload.</p>}
      {rows.map((row, index) => {
        const n = index + 1;
        return (
          <div key={index} className="schema-row" data-testid={`schema-field-${index}`} data-path={`payloadSchema.properties.${row.name}`}>
            <div className="schema-row-main">
              <input className="mono" aria-label={`Name of field ${n}`} placeholder="name" value={row.name} readOnly={readOnly} onChange={(e) => edit(index, { name: e.target.value })} />
              <select aria-label={`Type of field ${n}`} value={row.type} disabled={readOnly} onChange={(e) => edit(index, { type: e.target.value as FieldType })}>
                <option value="">any</option>
                {FIELD_TYPES.map((type) => (
                  <option key={type} value={type}>
                    {type}
                  </option>
                ))}
              </select>
              {!readOnly && (
                <button type="button" className="icon-button" aria-label={`Remove field ${n}`} onClick={() => update(rows.filter((_, i) => i !== index))}>
                  ×
                </button>
              )}
            </div>
            <div className="schema-row-sub">
              <input aria-label={`Description of field ${n}`} placeholder="description (optional)" value={row.description} readOnly={readOnly} onChange={(e) => edit(index, { description: e.target.value })} />
              <label className="check">
                <input type="checkbox" aria-label={`Field ${n} is required`} checked={row.required} disabled={readOnly} onChange={(e) => edit(index, { required: e.target.checked })} />
                required
              </label>
            </div>
          </div>
        );
      })}
      {problem && (
        <p className="field-error" role="alert">
          {problem} The schema keeps its last good form until then.
        </p>
      )}
      {!readOnly && (
        <button type="button" className="btn btn-small" onClick={() => update([...rows, { name: "", type: "string", required: false, description: "" }])}>
          + Add field
        </button>
      )}
      {kept.length > 0 && <p className="hint">Also in the schema, kept as it is: {kept.map(([keyword, value]) => `${keyword} ${JSON.stringify(value)}`).join(", ")} (JSON to change).</p>}
    </div>
  );
}
