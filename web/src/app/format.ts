// Dates and numbers in words people read at a glance.

export function relativeTime(iso: string | null | undefined, now: Date = new Date()): string {
  if (!iso) return "";
  const then = new Date(iso);
  const seconds = Math.round((now.getTime() - then.getTime()) / 1000);
  if (Number.isNaN(seconds)) return "";
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  if (days < 30) return `${days} d ago`;
  return then.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

/** A moment in the viewer's time zone with the zone named ("Dec 6, 2026, 10:41:18 PM GMT+1";
 * "UTC" when the viewer is on UTC), so a time means the same to everyone who reads it.
 * ``timeZone`` is for tests. */
export function dateTime(iso: string | null | undefined, timeZone?: string): string {
  if (!iso) return "";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return "";
  return moment.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "short",
    timeZone,
  });
}

/** The short name of the viewer's time zone at ``at`` ("GMT+1", "UTC"): what the times typed
 * into a date-and-time field mean. */
export function zoneName(at: Date = new Date(), timeZone?: string): string {
  const parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short", timeZone }).formatToParts(at);
  return parts.find((part) => part.type === "timeZoneName")?.value ?? "";
}

/** A date-and-time field's value (the viewer's local time) as an ISO instant. */
export function localToIso(local: string): string | undefined {
  if (!local) return undefined;
  const moment = new Date(local);
  return Number.isNaN(moment.getTime()) ? undefined : moment.toISOString();
}

/** An ISO instant as a date-and-time field's value, in the viewer's local time. */
export function isoToLocal(iso: string | null | undefined): string {
  if (!iso) return "";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return "";
  const offset = moment.getTimezoneOffset() * 60_000;
  return new Date(moment.getTime() - offset).toISOString().slice(0, 16);
}

export function plural(count: number, one: string, many: string = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
