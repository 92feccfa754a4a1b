// Triggers as the designer edits them (SPEC §2): on an event, on a schedule, or by hand.
import type { Json, JsonSchema, Trigger } from "../../api/types";
import { describeFilter } from "../steps";
import { EVENT_PATHS } from "./filters";

export type { Trigger };
export type TriggerType = "event" | "schedule" | "manual";

export const TRIGGER_TYPES: { type: TriggerType; label: string; add: string }[] = [
  { type: "event", label: "On an event", add: "+ On an event" },
  { type: "schedule", label: "On a schedule", add: "+ On a schedule" },
  { type: "manual", label: "By hand", add: "+ By hand" },
];

export const REENTRY: { value: string; label: string; help: string }[] = [
  { value: "always", label: "Always", help: "Every matching event starts a run." },
  { value: "notWhileActive", label: "Not while one is active", help: "No second run for a subject while one for it is still going." },
  { value: "never", label: "Never again", help: "One run per subject, ever (a contact enters the journey once)." },
];

/** What a schedule does with the slots it missed while no worker ran (a deploy, an outage). */
export const CATCH_UP: { value: string; label: string; help: string }[] = [
  { value: "latest", label: "Run the latest missed slot once", help: "After an outage one run catches up, for the most recent slot missed; then the schedule goes on." },
  { value: "all", label: "Run every missed slot", help: "One run per slot missed, oldest first (a backfill: each run's meta.scheduledFor is its slot)." },
  { value: "none", label: "Skip missed slots", help: "Slots missed while no worker ran never run; the next slot runs on time." },
];

const HOUR_MS = 3_600_000;

/** ``catchUpWindowMs`` shown in hours (blank: no window). */
export function windowHours(ms: Json | undefined): string {
  return typeof ms === "number" ? String(ms / HOUR_MS) : "";
}

/** Hours typed into ``catchUpWindowMs`` (undefined: blank, no window); zero or less is kept,
 * for validation to name. */
export function windowMs(hours: string): Json | undefined {
  const text = hours.trim();
  if (!text) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? Math.round(value * HOUR_MS) : undefined;
}

export const CRON_PRESETS: { cron: string; label: string }[] = [
  { cron: "0 * * * *", label: "Every hour" },
  { cron: "0 9 * * *", label: "Every day at 9:00" },
  { cron: "0 9 * * 1-5", label: "Weekdays at 9:00" },
  { cron: "0 9 * * 1", label: "Mondays at 9:00" },
  { cron: "0 9 1 * *", label: "The 1st of each month at 9:00" },
];

export { EVENT_PATHS };

/** The fields a trigger's filter offers: the event's own, the payload's fields the payload schema
 * names when the run's payload is the event's (no mapping), and the event paths the trigger's
 * subject and payload mapping already read. */
export function filterPaths(trigger: Trigger, payloadSchema: JsonSchema | undefined): string[] {
  const found = ["event.name", "event.key", "event.payload"];
  const properties = payloadSchema?.properties;
  if (trigger.payloadMapping === undefined && properties && typeof properties === "object" && !Array.isArray(properties)) {
    found.push(...Object.keys(properties).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name)).map((name) => `event.payload.${name}`));
  }
  for (const text of expressions([trigger.subject, trigger.payloadMapping])) {
    found.push(...(text.match(/\bevent(?:\.[A-Za-z_$][\w$]*)+/g) ?? []));
  }
  found.push("event.id", "event.receivedAt");
  return [...new Set(found)];
}

function expressions(values: (Json | undefined)[]): string[] {
  const texts: string[] = [];
  const pending = [...values];
  while (pending.length) {
    const value = pending.shift();
    if (!value || typeof value !== "object") continue;
    if (!Array.isArray(value) && typeof value.$expr === "string") texts.push(value.$expr);
    else pending.push(...(Array.isArray(value) ? value : Object.values(value)));
  }
  return texts;
}

/** A fresh trigger of ``type`` with what it needs filled in. */
export function newTrigger(type: TriggerType): Trigger {
  if (type === "event") return { type, eventName: "" };
  if (type === "schedule") return { type, cron: "0 9 * * 1-5", timezone: defaultZone() };
  return { type };
}

function defaultZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** A payload mapping that copies each field of the payload schema from the event's payload. */
export function mappingFromSchema(schema: JsonSchema | undefined): Record<string, Json> {
  const properties = schema?.properties;
  if (!properties || typeof properties !== "object" || Array.isArray(properties)) return {};
  return Object.fromEntries(Object.keys(properties).map((name) => [name, { $expr: `event.payload.${/^[A-Za-z_$][\w$]*$/.test(name) ? name : `\`${name}\``}` }]));
}

/** One line per trigger, for the start node of the canvas. */
export function describeTriggers(triggers: Trigger[] | undefined): string {
  if (!triggers?.length) return "started by API or by hand";
  return triggers
    .map((t) => (t.type === "event" ? describeEvent(t) : t.type === "schedule" ? `every ${String(t.cron ?? "")}` : t.type === "manual" ? "by hand" : String(t.type)))
    .join(" · ");
}

function describeEvent(trigger: Trigger): string {
  return `on “${String(trigger.eventName ?? "")}”${describeFilter(trigger.filter)}`;
}

/** ``list`` with the item at ``index`` replaced (or removed when ``item`` is undefined). */
export function replaceAt<T>(list: T[], index: number, item: T | undefined): T[] {
  return item === undefined ? list.filter((_, i) => i !== index) : list.map((x, i) => (i === index ? item : x));
}

/** ``list`` with the item at ``index`` moved by ``delta`` (unchanged at an end). */
export function moveAt<T>(list: T[], index: number, delta: -1 | 1): T[] {
  const to = index + delta;
  if (to < 0 || to >= list.length) return list;
  const copy = [...list];
  [copy[index], copy[to]] = [copy[to]!, copy[index]!];
  return copy;
}
