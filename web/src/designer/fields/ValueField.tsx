// One value of a step: a literal typed by its JSON Schema, or a JSONata expression
// ({"$expr": …}) with the expression editor; "ƒx" switches between the two.
import type { Json, JsonSchema } from "../../api/types";
import { ExpressionEditor } from "./ExpressionEditor";

export const isExpr = (value: unknown): value is { $expr: string } =>
  !!value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && "$expr" in value;

/** The schema without pydantic's "X or null" wrapper, and its type. */
export function plainSchema(schema: JsonSchema | undefined): JsonSchema {
  if (!schema) return {};
  const anyOf = schema.anyOf as JsonSchema[] | undefined;
  if (Array.isArray(anyOf)) {
    const useful = anyOf.filter((option) => option.type !== "null");
    if (useful.length === 1) return { ...useful[0], title: schema.title, description: schema.description, default: schema.default };
  }
  return schema;
}

export function humanize(name: string): string {
  const spaced = name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ");
  return spaced.charAt(0).toUpperCase() + spaced.slice(1).toLowerCase();
}

export function ValueField({
  id,
  name,
  schema,
  value,
  required,
  readOnly,
  paths,
  onChange,
  allowExpression = true,
  dataPath,
}: {
  id: string;
  name: string;
  /** The field's place in the document (``triggers[0].eventName``), for problems to find it. */
  dataPath?: string;
  schema: JsonSchema | undefined;
  value: Json | undefined;
  required: boolean;
  readOnly: boolean;
  paths: string[];
  onChange: (value: Json | undefined) => void;
  allowExpression?: boolean;
}) {
  const plain = plainSchema(schema);
  const type = plain.type as string | undefined;
  const expr = isExpr(value);
  const description = (plain.description as string | undefined) ?? undefined;
  const toggle = () => {
    if (expr) onChange(undefined);
    else onChange({ $expr: typeof value === "string" ? JSON.stringify(value) : value === undefined ? "" : JSON.stringify(value) });
  };
  let input: React.ReactNode;
  if (expr) {
    input = <ExpressionEditor id={id} value={value.$expr} paths={paths} readOnly={readOnly} onChange={(text) => onChange({ $expr: text })} />;
  } else if (Array.isArray(plain.enum)) {
    input = (
      <select id={id} value={value === undefined ? "" : String(value)} disabled={readOnly} onChange={(e) => onChange(e.target.value === "" ? undefined : (e.target.value as Json))}>
        <option value="">{required ? "choose…" : "default"}</option>
        {(plain.enum as Json[]).map((option) => (
          <option key={String(option)} value={String(option)}>
            {String(option)}
          </option>
        ))}
      </select>
    );
  } else if (type === "boolean") {
    input = (
      <select id={id} value={value === undefined ? "" : String(value)} disabled={readOnly} onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value === "true")}>
        <option value="">{plain.default !== undefined ? `default (${String(plain.default)})` : "not set"}</option>
        <option value="true">yes</option>
        <option value="false">no</option>
      </select>
    );
  } else if (type === "integer" || type === "number") {
    input = (
      <input
        id={id}
        type="number"
        value={typeof value === "number" ? value : ""}
        placeholder={plain.default !== undefined && plain.default !== null ? String(plain.default) : ""}
        readOnly={readOnly}
        onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))}
      />
    );
  } else if (type === "string" || (type === undefined && (typeof value === "string" || value === undefined) && !plain.properties)) {
    const long = (plain.maxLength as number | undefined) === undefined || (plain.maxLength as number) > 200;
    input = long ? (
      <textarea id={id} rows={typeof value === "string" && value.length > 60 ? 3 : 1} value={typeof value === "string" ? value : ""} readOnly={readOnly} onChange={(e) => onChange(e.target.value === "" && !required ? undefined : e.target.value)} />
    ) : (
      <input id={id} value={typeof value === "string" ? value : ""} readOnly={readOnly} onChange={(e) => onChange(e.target.value === "" && !required ? undefined : e.target.value)} />
    );
  } else {
    input = <JsonInput id={id} value={value} readOnly={readOnly} onChange={onChange} />;
  }
  return (
    <div className="field" data-field={name} data-path={dataPath}>
      <div className="field-head">
        <label htmlFor={id}>
          {(plain.title as string | undefined) && !/^[A-Z][a-z]+$/.test(String(plain.title)) ? String(plain.title) : humanize(name)}
          {required && (
            <span className="required" title="Required">
              {" "}
              *
            </span>
          )}
        </label>
        {allowExpression && !readOnly && (
          <button type="button" className={`fx ${expr ? "is-on" : ""}`} onClick={toggle} title={expr ? "Use a fixed value" : "Use an expression"} aria-pressed={expr} aria-label={`Expression for ${humanize(name)}`}>
            ƒx
          </button>
        )}
      </div>
      {input}
      {description && <p className="hint">{description}</p>}
    </div>
  );
}

/** Any JSON value as text, parsed on blur; bad JSON is said, not saved. */
export function JsonInput({ id, value, readOnly, onChange, rows = 4 }: { id: string; value: unknown; readOnly: boolean; onChange: (value: Json | undefined) => void; rows?: number }) {
  const text = value === undefined ? "" : JSON.stringify(value, null, 2);
  return (
    <textarea
      id={id}
      key={text}
      className="mono json-input"
      rows={Math.min(14, Math.max(rows, text.split("\n").length))}
      defaultValue={text}
      readOnly={readOnly}
      onBlur={(e) => {
        const raw = e.target.value.trim();
        if (raw === "") return onChange(undefined);
        try {
          onChange(JSON.parse(raw) as Json);
          e.target.setCustomValidity("");
        } catch {
          e.target.setCustomValidity("This is not valid JSON");
          e.target.reportValidity();
        }
      }}
    />
  );
}
