// A workflow's run settings (definitions/models.py Settings) as a form, and back: the
// concurrency key (a literal or an expression over the start payload) and the JSON pointers
// whose values are masked in stored history. Keys the form does not know are kept as they are.
import type { Json, JsonSchema } from "../../api/types";

export const MAX_POINTERS = 100;
/** The roots a pointer may start from (definitions/pointers.py ROOTS). */
const ROOTS = ["payload", "vars", "meta"];

export interface RunSettingsForm {
  concurrencyKey: Json | undefined;
  /** One row each, as typed: empty rows are not written. */
  redact: string[];
}

type Settings = Record<string, Json>;

const isObject = (value: unknown): value is Record<string, Json> => !!value && typeof value === "object" && !Array.isArray(value);
const isExprValue = (value: unknown): value is { $expr: string } => isObject(value) && Object.keys(value).length === 1 && typeof value.$expr === "string";

/** What is wrong with a pointer, as the server's parse_pointer says it, or null. */
export function pointerProblem(text: string): string | null {
  if (!text.startsWith("/")) return "A JSON pointer starts with “/”, e.g. /payload/email.";
  const raw = text.slice(1).split("/");
  // as the server reads it: "~0" out, then "~1" out, and no "~" left
  if (raw.some((token) => token.split("~0").join("").split("~1").join("").includes("~"))) return "“~” is written ~0, and “/” inside a name ~1.";
  if (!ROOTS.includes(raw[0]!) || raw.length < 2) return "It must point inside the run: /payload/…, /vars/… or /meta/….";
  return null;
}

/** The form for ``settings``, or null when the form cannot show them (then they are JSON). */
export function runSettingsForm(settings: unknown): RunSettingsForm | null {
  if (settings === undefined || settings === null) return { concurrencyKey: undefined, redact: [] };
  if (!isObject(settings)) return null;
  const { concurrencyKey, redact } = settings;
  const keyShown = concurrencyKey === undefined || concurrencyKey === null || typeof concurrencyKey === "string" || isExprValue(concurrencyKey);
  const redactShown = redact === undefined || (Array.isArray(redact) && redact.length <= MAX_POINTERS && redact.every((p) => typeof p === "string"));
  if (!keyShown || !redactShown) return null;
  return { concurrencyKey: concurrencyKey ?? undefined, redact: (redact as string[] | undefined) ?? [] };
}

/** The keys of ``settings`` the form does not show; they travel through it unchanged. */
export function keptSettings(settings: unknown): [string, Json][] {
  return isObject(settings) ? Object.entries(settings).filter(([key]) => key !== "concurrencyKey" && key !== "redact") : [];
}

/** ``base`` with the form's values: an empty key or expression and empty rows are left out,
 * and settings with nothing in them are none (undefined). */
export function settingsOf(form: RunSettingsForm, base: unknown): Settings | undefined {
  const next: Settings = isObject(base) ? { ...base } : {};
  const key = form.concurrencyKey;
  if (key === undefined || key === null || key === "" || (isExprValue(key) && key.$expr.trim() === "")) delete next.concurrencyKey;
  else next.concurrencyKey = key;
  const pointers = form.redact.filter((pointer) => pointer !== "");
  if (pointers.length) next.redact = pointers;
  else delete next.redact;
  return Object.keys(next).length ? next : undefined;
}

/** A name as a pointer's reference token (RFC 6901: "~" is ~0, "/" is ~1). */
const escape = (name: string) => name.replace(/~/g, "~0").replace(/\//g, "~1");

/** Pointers to offer: every field of the payload schema (nested ones too) and the vars the
 * workflow saves (``paths`` as the expression editor knows them). */
export function pointerSuggestions(payloadSchema: JsonSchema | undefined, paths: string[]): string[] {
  const found: string[] = [];
  const fromSchema = (schema: unknown, prefix: string, depth: number) => {
    if (depth > 5 || !isObject(schema) || !isObject(schema.properties)) return;
    for (const [name, child] of Object.entries(schema.properties)) {
      found.push(`${prefix}/${escape(name)}`);
      fromSchema(child, `${prefix}/${escape(name)}`, depth + 1);
    }
  };
  fromSchema(payloadSchema, "/payload", 0);
  for (const path of paths) if (path.startsWith("vars.")) found.push("/" + path.split(".").map(escape).join("/"));
  return [...new Set(found)];
}
