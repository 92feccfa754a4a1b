// Runs: filter (workflow, version, status, subject or run id, current step, started between),
// counts per status, keyset pages (older / newer), live refresh, and bulk cancel of the
// filtered set with a confirmation that names how many runs it cancels.
import { useMemo, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { describeError } from "../api/client";
import { consoleApi, RUN_STATUSES, type BulkCancelResult, type RunFilters } from "../api/console";
import { useLoad } from "../api/hooks";
import { useSession } from "../api/session";
import type { Page, WorkflowSummary } from "../api/types";
import { api } from "../api/client";
import { Modal } from "../app/Modal";
import { isoToLocal, localToIso, plural, relativeTime, zoneName } from "../app/format";
import { between, dateTime, FilterButtons, formatDuration, LIVE_MS, StatusPill, useNow } from "./parts";

const PAGE = 50;
const FILTER_NAMES = ["workflow", "version", "status", "search", "step", "createdAfter", "createdBefore"] as const;

/** The filters in words, for the bulk-cancel confirmation. */
function describeFilters(filters: RunFilters): string[] {
  const lines: string[] = [];
  if (filters.workflow) lines.push(`workflow ${filters.workflow}${filters.version ? ` version ${filters.version}` : ""}`);
  else if (filters.version) lines.push(`version ${filters.version}`);
  if (filters.status) lines.push(`status ${filters.status.toLowerCase()}`);
  if (filters.search) lines.push(`subject or run id contains "${filters.search}"`);
  if (filters.step) lines.push(`at step ${filters.step}`);
  if (filters.createdAfter) lines.push(`started from ${dateTime(filters.createdAfter)}`);
  if (filters.createdBefore) lines.push(`started before ${dateTime(filters.createdBefore)}`);
  return lines;
}

export function RunsPage() {
  const { canPublish } = useSession();
  const [params, setParams] = useSearchParams();
  const filters: RunFilters = useMemo(() => {
    const found: RunFilters = {};
    for (const name of FILTER_NAMES) {
      const value = params.get(name);
      if (value) found[name] = value;
    }
    return found;
  }, [params]);
  const filterKey = JSON.stringify(filters);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const now = useNow(1000);

  const runs = useLoad(() => consoleApi.runs(filters, PAGE, cursor), [filterKey, cursor], LIVE_MS);
  const counts = useLoad(() => consoleApi.counts(filters), [filterKey], LIVE_MS);
  const workflows = useLoad(() => api.get<Page<WorkflowSummary>>("/workflows?limit=500"), []);
  const [confirm, setConfirm] = useState<BulkCancelResult | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  function setFilter(name: (typeof FILTER_NAMES)[number], value: string | undefined) {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
    setCursors([null]);
  }

  function onSearch(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const name of FILTER_NAMES) {
      let value = String(form.get(name) ?? "").trim();
      if (name === "createdAfter" || name === "createdBefore") value = localToIso(value) ?? "";
      if (name === "status") value = filters.status ?? "";
      if (value) next.set(name, value);
    }
    setParams(next, { replace: true });
    setCursors([null]);
  }

  async function askBulkCancel() {
    setBusy(true);
    try {
      setConfirm(await consoleApi.bulkCancel(filters, true));
    } catch (error) {
      setNotice(describeError(error));
    } finally {
      setBusy(false);
    }
  }

  async function bulkCancel(expected: number) {
    setBusy(true);
    try {
      const done = await consoleApi.bulkCancel(filters, false, expected);
      setNotice(
        `${plural(done.canceled, "run")} canceled.` +
          (done.remaining ? ` ${done.remaining} more match: cancel again to continue.` : ""),
      );
      setConfirm(null);
      runs.reload();
      counts.reload();
    } catch (error) {
      setNotice(describeError(error));
      setConfirm(null);
    } finally {
      setBusy(false);
    }
  }

  const items = runs.data?.items ?? [];
  const total = counts.data?.total ?? 0;
  const filtered = Object.keys(filters).length > 0;
  return (
    <div className="page console-page">
      <header className="page-header">
        <div>
          <h1>Runs</h1>
          <p className="muted">Every run of every workflow, newest first. Refreshes by itself.</p>
        </div>
        <div className="actions">
          {canPublish && (
            <button className="btn btn-danger" type="button" disabled={busy} onClick={askBulkCancel}>
              Cancel matching runs…
            </button>
          )}
        </div>
      </header>

      <form className="filters" onSubmit={onSearch} key={filterKey} aria-label="Filter runs">
        <label>
          Subject or run id
          <input name="search" type="search" defaultValue={filters.search ?? ""} placeholder="e.g. ann@example.com" />
        </label>
        <label>
          Workflow
          <select name="workflow" defaultValue={filters.workflow ?? ""}>
            <option value="">All workflows</option>
            {(workflows.data?.items ?? []).map((w) => (
              <option key={w.key} value={w.key}>
                {w.name && w.name !== w.key ? `${w.name} (${w.key})` : w.key}
              </option>
            ))}
          </select>
        </label>
        <label>
          Version
          <input name="version" type="number" min={1} className="narrow" defaultValue={filters.version ?? ""} />
        </label>
        <label>
          At step
          <input name="step" defaultValue={filters.step ?? ""} placeholder="step id" className="mid" />
        </label>
        <label>
          Started from ({zoneName()})
          <input name="createdAfter" type="datetime-local" defaultValue={isoToLocal(filters.createdAfter ?? null)} />
        </label>
        <label>
          to
          <input name="createdBefore" type="datetime-local" defaultValue={isoToLocal(filters.createdBefore ?? null)} />
        </label>
        <FilterButtons
          filtered={filtered}
          onClear={() => {
            setParams(new URLSearchParams(), { replace: true });
            setCursors([null]);
          }}
        />
      </form>

      <div className="status-tabs" role="tablist" aria-label="Status">
        <button
          type="button"
          role="tab"
          aria-selected={!filters.status}
          className={`status-tab ${!filters.status ? "active" : ""}`}
          onClick={() => setFilter("status", undefined)}
        >
          All <span className="count">{total}</span>
        </button>
        {RUN_STATUSES.map((status) => (
          <button
            key={status}
            type="button"
            role="tab"
            aria-selected={filters.status === status}
            className={`status-tab status-${status.toLowerCase()} ${filters.status === status ? "active" : ""}`}
            onClick={() => setFilter("status", status)}
          >
            {status.charAt(0) + status.slice(1).toLowerCase()} <span className="count">{counts.data?.counts[status] ?? 0}</span>
          </button>
        ))}
      </div>

      {notice && (
        <div className="alert alert-info" role="status" onClick={() => setNotice(null)}>
          {notice}
        </div>
      )}
      {runs.error ? (
        <div className="alert alert-error" role="alert">
          The runs could not be loaded: {describeError(runs.error)}
        </div>
      ) : null}

      {!runs.loading && items.length === 0 && !runs.error ? (
        <div className="empty">
          <h2>{filtered ? "No run matches these filters" : "No runs yet"}</h2>
          <p>{filtered ? "Clear a filter or pick another status." : "Runs appear here when a workflow starts."}</p>
        </div>
      ) : (
        <table className="table runs-table" aria-label="Runs">
          <thead>
            <tr>
              <th>Status</th>
              <th>Subject</th>
              <th>Workflow</th>
              <th>At step</th>
              <th>Started</th>
              <th className="num">Duration</th>
            </tr>
          </thead>
          <tbody>
            {items.map((run) => (
              <tr key={run.runId} data-testid="run-row">
                <td>
                  <StatusPill status={run.status} />
                </td>
                <td>
                  <Link className="row-title" to={`/runs/${run.runId}`}>
                    {run.subject || <span className="muted">(no subject)</span>}
                  </Link>
                  <div className="muted small mono">{run.runId}</div>
                </td>
                <td>
                  {run.workflow} <span className="muted">v{run.version}</span>
                  {run.parentRunId && <div className="muted small">child run</div>}
                </td>
                <td>{run.currentStep ? <code>{run.currentStep}</code> : <span className="muted">—</span>}</td>
                <td title={dateTime(run.createdAt)}>{relativeTime(run.createdAt, new Date(now))}</td>
                <td className="num">{formatDuration(between(run.createdAt, run.finishedAt, now))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button
          className="btn btn-small"
          type="button"
          disabled={cursors.length === 1}
          onClick={() => setCursors((stack) => stack.slice(0, -1))}
        >
          ← Newer
        </button>
        <span className="muted small">Page {cursors.length}</span>
        <button
          className="btn btn-small"
          type="button"
          disabled={!runs.data?.nextCursor}
          onClick={() => runs.data?.nextCursor && setCursors((stack) => [...stack, runs.data!.nextCursor!])}
        >
          Older →
        </button>
      </div>

      {confirm && (
        <Modal title="Cancel matching runs" onClose={() => setConfirm(null)}>
          {confirm.matching === 0 ? (
            <p>No active run matches these filters: there is nothing to cancel.</p>
          ) : (
            <>
              <p>
                <strong>{plural(confirm.matching, "active run")}</strong> match{confirm.matching === 1 ? "es" : ""} the
                filters{filtered ? ":" : " (no filter: every active run of every workflow)."}
              </p>
              {filtered && (
                <ul className="filter-summary">
                  {describeFilters(filters).map((line) => (
                    <li key={line}>{line}</li>
                  ))}
                </ul>
              )}
              <p>
                Canceling stops them for good: their waits close and no event or timer revives them. Finished runs
                are not touched.
              </p>
              {confirm.matching > 10_000 && <p className="hint">One confirmation cancels at most 10,000.</p>}
            </>
          )}
          <div className="form-actions">
            <button className="btn" type="button" onClick={() => setConfirm(null)}>
              Keep them
            </button>
            {confirm.matching > 0 && (
              <button className="btn btn-primary btn-danger-solid" type="button" disabled={busy} onClick={() => bulkCancel(confirm.matching)}>
                Cancel {plural(confirm.matching, "run")}
              </button>
            )}
          </div>
        </Modal>
      )}
    </div>
  );
}
