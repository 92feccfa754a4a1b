// Filters written with the rule builder: an event trigger's "Only when" and an event.wait's
// filter (SPEC §3.2). Both are a condition (rules, a group of them, or an expression); no rule
// naming a field is no filter; anything else already there is a literal to the builder.
import type { Condition } from "../../api/types";

/** What an expression over an arriving event sees of it (SPEC §2). */
export const EVENT_PATHS = ["event.payload", "event.key", "event.name", "event.id", "event.receivedAt"];

/** A filter as the rule builder left it: none when no rule names a field or the expression is
 * blank (every event passes), else the condition as it is. */
export function filterOrNone(condition: Condition | undefined): Condition | undefined {
  if (!condition) return undefined;
  if ("$expr" in condition) return condition.$expr.trim() === "" ? undefined : condition;
  return namesAField(condition) ? condition : undefined;
}

function namesAField(condition: Condition): boolean {
  if ("$expr" in condition) return true;
  if ("field" in condition) return condition.field.trim() !== "";
  return [...(condition.all ?? []), ...(condition.any ?? [])].some(namesAField);
}

/** Whether ``value`` (a filter as the JSON holds it) is a condition the rule builder shows: an
 * expression, a rule, or a group of rules; anything else is a literal to the server. */
export function isCondition(value: unknown): value is Condition {
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const fields = value as Record<string, unknown>;
  if ("$expr" in fields) return typeof fields.$expr === "string";
  if ("field" in fields) return typeof fields.field === "string" && typeof fields.op === "string";
  const list = fields.all ?? fields.any;
  return Array.isArray(list) && list.every(isCondition);
}

/** What an event.wait's filter offers: the arriving event's fields, then the run's (the
 * envelope frozen when the wait parked: payload, vars, meta, run). */
export function waitFilterPaths(runPaths: string[]): string[] {
  return [...new Set([...EVENT_PATHS, ...runPaths])];
}
