// The payload schema as a list of fields (name, type, required, description) for the simple
// editor, and back. A schema the list cannot say (formats, nested properties, $ref, …) is not
// squeezed into it: fieldsOf names what it would lose and the designer offers the JSON instead.
import type { Json, JsonSchema } from "../../api/types";

export const FIELD_TYPES = ["string", "number", "integer", "boolean", "object", "array"] as const;
/** "" is a field of any type (no "type" keyword). */
export type FieldType = (typeof FIELD_TYPES)[number] | "";

export interface SchemaField {
  name: string;
  type: FieldType;
  required: boolean;
  description: string;
}

/** Keywords of the whole schema the simple editor keeps as they are (it shows them read-only). */
const KEPT = new Set(["$schema", "title", "description", "additionalProperties"]);
const OWN = new Set(["type", "properties", "required"]);
const FIELD_KEYWORDS = new Set(["type", "description"]);

export type FieldList = { fields: SchemaField[]; unsupported: [] } | { fields: null; unsupported: string[] };

const isObject = (value: unknown): value is Record<string, unknown> => !!value && typeof value === "object" && !Array.isArray(value);

/** The schema's fields, or (``fields: null``) what in it the simple editor cannot show. */
export function fieldsOf(schema: JsonSchema | undefined): FieldList {
  if (schema === undefined) return { fields: [], unsupported: [] };
  if (!isObject(schema)) return { fields: null, unsupported: ["a schema that is not an object"] };
  const unsupported: string[] = [];
  for (const [keyword, value] of Object.entries(schema)) {
    if (keyword === "$ref") unsupported.push(typeof value === "string" ? `$ref (${value})` : "$ref");
    else if (keyword === "additionalProperties" && typeof value !== "boolean") unsupported.push("additionalProperties (a schema)");
    else if (!OWN.has(keyword) && !KEPT.has(keyword)) unsupported.push(keyword);
  }
  if (schema.type !== undefined && schema.type !== "object") unsupported.push(`type ${JSON.stringify(schema.type)}`);
  const properties = schema.properties ?? {};
  if (!isObject(properties)) unsupported.push("properties (not an object)");
  const required = schema.required ?? [];
  if (!Array.isArray(required) || !required.every((name) => typeof name === "string")) unsupported.push("required (not a list of names)");
  const fields: SchemaField[] = [];
  if (isObject(properties)) {
    for (const [name, property] of Object.entries(properties)) {
      if (!isObject(property)) {
        unsupported.push(`${name}: ${JSON.stringify(property)}`);
        continue;
      }
      const extra = Object.keys(property).filter((keyword) => !FIELD_KEYWORDS.has(keyword));
      const type = property.type;
      if (type !== undefined && !(typeof type === "string" && (FIELD_TYPES as readonly string[]).includes(type))) extra.unshift(`type ${JSON.stringify(type)}`);
      if (property.description !== undefined && typeof property.description !== "string") extra.push("description (not text)");
      if (extra.length) unsupported.push(`${name}: ${extra.join(", ")}`);
      fields.push({
        name,
        type: (typeof type === "string" ? type : "") as FieldType,
        required: Array.isArray(required) && required.includes(name),
        description: typeof property.description === "string" ? property.description : "",
      });
    }
  }
  if (Array.isArray(required) && isObject(properties)) {
    for (const name of required) if (typeof name === "string" && !(name in properties)) unsupported.push(`required ${name} (no such field)`);
  }
  return unsupported.length ? { fields: null, unsupported } : { fields, unsupported: [] };
}

/** Why the list cannot be saved as it is (a name missing or used twice), or null. */
export function fieldListProblem(fields: SchemaField[]): string | null {
  const seen = new Set<string>();
  for (const [index, field] of fields.entries()) {
    const name = field.name.trim();
    if (!name) return `Field ${index + 1} needs a name.`;
    if (seen.has(name)) return `Two fields are named “${name}”.`;
    seen.add(name);
  }
  return null;
}

/** The JSON Schema of ``fields``, keeping the kept keywords of ``base``; undefined when there is
 * nothing left to say. */
export function schemaOf(fields: SchemaField[], base: JsonSchema | undefined): JsonSchema | undefined {
  const kept = Object.fromEntries(Object.entries(base ?? {}).filter(([keyword]) => KEPT.has(keyword)));
  if (fields.length === 0 && Object.keys(kept).length === 0) return undefined;
  const properties: Record<string, Json> = {};
  for (const field of fields) {
    const property: Record<string, Json> = {};
    if (field.type) property.type = field.type;
    if (field.description.trim()) property.description = field.description;
    properties[field.name.trim()] = property;
  }
  const required = fields.filter((field) => field.required).map((field) => field.name.trim());
  return { ...kept, type: "object", properties, ...(required.length ? { required } : {}) };
}
