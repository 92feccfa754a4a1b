// How steps are named and summarised for people (palette, canvas cards, panel headers).
import type { Condition, Json, Step } from "../api/types";
import { isCondition } from "./model/filters";

export interface TypeInfo {
  label: string;
  icon: string;
  /** Card colour family. */
  tone: "action" | "control" | "wait" | "data" | "task" | "end";
  help: string;
}

export const TYPE_INFO: Record<string, TypeInfo> = {
  "action.call": { label: "Action", icon: "⚡", tone: "action", help: "Call a registered action with mapped input." },
  "state.set": { label: "Set state", icon: "◉", tone: "data", help: "Name where the run is, e.g. AWAITING_APPROVAL." },
  "transform.assign": { label: "Set values", icon: "=", tone: "data", help: "Compute values and store them under vars." },
  "event.wait": { label: "Wait for event", icon: "◷", tone: "wait", help: "Park until a matching event arrives (or a timeout)." },
  "time.wait": { label: "Delay", icon: "◔", tone: "wait", help: "Wait for a duration or until a time." },
  "human.task": { label: "Human task", icon: "☑", tone: "task", help: "Ask a person to fill in a form." },
  "event.emit": { label: "Emit event", icon: "✉", tone: "action", help: "Send an event other runs can wait for." },
  "control.if": { label: "If / else", icon: "◇", tone: "control", help: "Take one of two branches by a condition." },
  "control.switch": { label: "Switch", icon: "⋔", tone: "control", help: "The first matching case wins." },
  "control.forEach": { label: "For each", icon: "↻", tone: "control", help: "Run steps for every item of a list." },
  "control.parallel": { label: "Parallel", icon: "⇉", tone: "control", help: "Run branches at the same time." },
  "control.tryCatch": { label: "Try / catch", icon: "⚠", tone: "control", help: "Handle an error of the steps inside." },
  "control.callWorkflow": { label: "Call workflow", icon: "↳", tone: "action", help: "Start another workflow and wait for it." },
  "control.return": { label: "Finish", icon: "■", tone: "end", help: "End the run successfully here." },
  "control.fail": { label: "Fail", icon: "✕", tone: "end", help: "End the run with an error (a try/catch can handle it)." },
};

export function typeInfo(type: string): TypeInfo {
  return TYPE_INFO[type] ?? { label: type, icon: "●", tone: "action", help: "" };
}

const OP_WORDS: Record<string, string> = {
  equals: "=",
  notEquals: "≠",
  contains: "contains",
  notContains: "does not contain",
  greaterThan: ">",
  lessThan: "<",
  greaterThanOrEqual: "≥",
  lessThanOrEqual: "≤",
  exists: "exists",
  notExists: "is missing",
};

export function describeValue(value: unknown): string {
  if (value && typeof value === "object" && "$expr" in (value as object)) return `ƒ ${(value as { $expr: string }).$expr}`;
  if (value && typeof value === "object" && "$secret" in (value as object)) return `secret ${(value as { $secret: string }).$secret}`;
  return JSON.stringify(value);
}

export function describeCondition(condition: Condition | undefined): string {
  if (!condition || typeof condition !== "object") return "no condition";
  if ("$expr" in condition) return `ƒ ${condition.$expr}`;
  if ("all" in condition || "any" in condition) {
    const list = (("all" in condition ? condition.all : condition.any) ?? []) as Condition[];
    const joiner = "all" in condition ? " and " : " or ";
    return list.map(describeCondition).join(joiner) || "no rules";
  }
  if ("field" in condition) {
    const op = OP_WORDS[condition.op] ?? condition.op;
    const unary = condition.op === "exists" || condition.op === "notExists";
    return unary ? `${condition.field} ${op}` : `${condition.field} ${op} ${describeValue(condition.value)}`;
  }
  return "condition";
}

/** " when …" for a filter the builder shows, as a person says it (rules on the event's payload
 * without ``event.payload.``: "plan contains "pro""); "" for none or one it cannot show. */
export function describeFilter(filter: unknown): string {
  return isCondition(filter) ? ` when ${describeCondition(shortFields(filter))}` : "";
}

/** ``condition`` with its rules' ``event.payload.`` dropped (expressions stay as written; what
 * is not a rule is left to ``describeCondition``). */
function shortFields(condition: Condition): Condition {
  if ("$expr" in condition) return condition;
  if ("field" in condition) return typeof condition.field === "string" ? { ...condition, field: condition.field.replace(/^event\.payload\./, "") } : condition;
  const group: Condition = { ...condition };
  if (Array.isArray(condition.all)) group.all = condition.all.map(shortFields);
  if (Array.isArray(condition.any)) group.any = condition.any.map(shortFields);
  return group;
}

export function humanDuration(ms: unknown): string {
  if (typeof ms !== "number") return describeValue(ms);
  const units: [number, string][] = [
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1000, "second"],
  ];
  for (const [size, name] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${name}${ms / size === 1 ? "" : "s"}`;
  }
  return `${ms} ms`;
}

/** ``summarize`` in two parts: what may be shortened, and a tail that must stay in sight when
 * a card is too narrow (an action's version, a called workflow's version) - "journeys.upd… v2",
 * not "journeys.update_cont…". */
export function summaryParts(step: Step): [string, string] {
  const config = (step.config ?? {}) as Record<string, Json>;
  if (step.type === "action.call" && config.actionId) return [String(config.actionId), ` v${config.version ?? 1}`];
  if (step.type === "control.callWorkflow" && step.workflowKey) return [String(step.workflowKey), ` (${step.version ?? "latest"})`];
  return [summarize(step), ""];
}

/** One line saying what the step does. */
export function summarize(step: Step): string {
  const config = (step.config ?? {}) as Record<string, Json>;
  switch (step.type) {
    case "action.call":
      return config.actionId ? `${config.actionId} v${config.version ?? 1}` : "choose an action";
    case "state.set":
      return String(config.state ?? "");
    case "transform.assign":
      return Object.keys((config.assign as object) ?? {}).join(", ") || "nothing yet";
    case "event.wait":
      // a wait's filter may also be a JSONata source as text
      return config.eventName ? `until “${config.eventName}”${describeFilter(typeof config.filter === "string" ? { $expr: config.filter } : config.filter)}` : "choose an event";
    case "time.wait":
      return config.durationMs !== undefined ? `for ${humanDuration(config.durationMs)}` : `until ${describeValue(config.until)}`;
    case "human.task":
      return config.title ? describeValue(config.title) : "untitled task";
    case "event.emit":
      return config.eventName ? `“${config.eventName}”` : "choose an event";
    case "control.if":
      return describeCondition(step.condition as Condition);
    case "control.switch": {
      const count = Array.isArray(step.cases) ? step.cases.length : 0;
      return `${count} case${count === 1 ? "" : "s"}`;
    }
    case "control.forEach":
      return `each of ${describeValue(step.items)}`;
    case "control.parallel": {
      const count = Array.isArray(step.branches) ? step.branches.length : 0;
      return `${count} branches`;
    }
    case "control.tryCatch":
      return step.captureErrorAs ? `error saved at ${step.captureErrorAs}` : "handle errors";
    case "control.callWorkflow":
      return step.workflowKey ? `${step.workflowKey} (${step.version ?? "latest"})` : "choose a workflow";
    case "control.return":
      return "end of the run";
    case "control.fail":
      return typeof step.message === "string" ? step.message : describeValue(step.message);
    default:
      return "";
  }
}
