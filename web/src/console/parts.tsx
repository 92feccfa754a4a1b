// Small pieces every console screen uses: status pills, collapsible JSON, durations and
// countdowns in words, and the refresh interval of live screens.
import { useEffect, useState, type ReactNode } from "react";

export { dateTime } from "../app/format";

/** How often live screens poll the API (the list and the run viewer). */
export const LIVE_MS = 2000;

const STATUS_CLASS: Record<string, string> = {
  SUCCEEDED: "pill-ok",
  FAILED: "pill-err",
  CANCELED: "pill-paused",
  WAITING: "pill-warn",
  RUNNING: "pill-live",
  PENDING: "pill-live",
  succeeded: "pill-ok",
  failed: "pill-err",
  retrying: "pill-warn",
  continued: "pill-warn",
  caught: "pill-warn",
  skipped: "pill-paused",
  migrated: "pill-live",
  retried: "pill-live",
  rerun: "pill-live",
  resumed: "pill-live",
  waiting: "pill-warn",
  open: "pill-warn",
  completed: "pill-ok",
  timed_out: "pill-err",
  canceled: "pill-paused",
};

export function StatusPill({ status }: { status: string }) {
  return <span className={`pill ${STATUS_CLASS[status] ?? ""}`}>{status.toLowerCase().replace("_", " ")}</span>;
}

/** A JSON value, folded under a summary line; open state survives refreshes (same element). */
export function JsonBlock({ label, value, open = false }: { label: string; value: unknown; open?: boolean }) {
  if (value === undefined) return null;
  const text = JSON.stringify(value, null, 2) ?? "null";
  const short = text.length > 60 ? `${text.replace(/\s+/g, " ").slice(0, 60)}…` : text.replace(/\s+/g, " ");
  return (
    <details className="json" open={open}>
      <summary>
        <span className="json-label">{label}</span> <code className="muted">{short}</code>
      </summary>
      <pre>{text}</pre>
    </details>
  );
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function between(start: string | null | undefined, end: string | null | undefined, now: number): number | null {
  if (!start) return null;
  const from = Date.parse(start);
  const to = end ? Date.parse(end) : now;
  return Number.isNaN(from) || Number.isNaN(to) ? null : Math.max(0, to - from);
}

/** The current time, ticking every ``ms`` (countdowns, running durations). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}

export function countdown(due: string | null | undefined, now: number): string {
  if (!due) return "";
  const left = Date.parse(due) - now;
  if (Number.isNaN(left)) return "";
  if (left <= 0) return "due now";
  return `in ${formatDuration(left)}`;
}

/** A filter form's Apply, and Clear once any filter is set. */
export function FilterButtons({ filtered, onClear }: { filtered: boolean; onClear: () => void }) {
  return (
    <div className="filter-buttons">
      <button className="btn btn-primary" type="submit">
        Apply
      </button>
      {filtered && (
        <button className="btn btn-ghost" type="button" onClick={onClear}>
          Clear
        </button>
      )}
    </div>
  );
}

export function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="fact">
      <div className="fact-label">{label}</div>
      <div className="fact-value">{children}</div>
    </div>
  );
}

export function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}
