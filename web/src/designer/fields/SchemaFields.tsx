// A form for an object JSON Schema (a node's config, an action's input): one ValueField per
// property, required ones first and marked; local $refs resolved.
import type { Json, JsonSchema } from "../../api/types";
import { ValueField } from "./ValueField";

function resolve(schema: JsonSchema | undefined, root: JsonSchema): JsonSchema | undefined {
  const ref = schema?.$ref;
  if (typeof ref === "string" && ref.startsWith("#/")) {
    let target: unknown = root;
    for (const part of ref.slice(2).split("/")) target = (target as Record<string, unknown> | undefined)?.[part];
    return { ...(target as JsonSchema), ...Object.fromEntries(Object.entries(schema!).filter(([k]) => k !== "$ref")) };
  }
  return schema;
}

export function SchemaFields({
  idPrefix,
  schema,
  value,
  onChange,
  readOnly,
  paths,
  skip = [],
  allowExpression = true,
}: {
  idPrefix: string;
  schema: JsonSchema;
  value: Record<string, Json>;
  onChange: (value: Record<string, Json>) => void;
  readOnly: boolean;
  paths: string[];
  skip?: string[];
  allowExpression?: boolean;
}) {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  const names = Object.keys(properties)
    .filter((name) => !skip.includes(name))
    .sort((a, b) => Number(required.has(b)) - Number(required.has(a)));
  const extra = Object.keys(value).filter((name) => !(name in properties) && !skip.includes(name));
  const set = (name: string, next: Json | undefined) => {
    const copy = { ...value };
    if (next === undefined) delete copy[name];
    else copy[name] = next;
    onChange(copy);
  };
  if (names.length === 0 && extra.length === 0) return <p className="hint">Nothing to set.</p>;
  return (
    <div className="fields">
      {[...names, ...extra].map((name) => (
        <ValueField
          key={name}
          id={`${idPrefix}-${name}`}
          name={name}
          schema={resolve(properties[name], schema)}
          value={value[name]}
          required={required.has(name)}
          readOnly={readOnly}
          paths={paths}
          allowExpression={allowExpression}
          onChange={(next) => set(name, next)}
        />
      ))}
    </div>
  );
}
