// Move runs in flight to another version: choose source and target, which runs (all active, the
// ones at a step, or picked by hand), map each active step of the source to a step of the target
// (the same id by default), check with a dry run (per-run result and problems), then apply with
// progress.
import { useEffect, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { ApiError, api, describeError, seg, storedKey } from "../api/client";
import { useLoad } from "../api/hooks";
import { useSession } from "../api/session";
import { activeAt, activeHere, stepsAt, type Definition, type Page, type StepCounts, type VersionDetail, type VersionSummary } from "../api/types";
import { plural } from "../app/format";
import { walk } from "./model/tree";
import { typeInfo } from "./steps";

interface RunItem {
  runId: string;
  subject: string | null;
  status: string;
  currentStep: string | null;
  version: number;
}

interface RunReport {
  runId: string;
  status: string | null;
  subject: string | null;
  currentStep: string | null;
  result: "ok" | "moved" | "blocked";
  problems?: { code: string; message: string; stepId: string | null; retryable: boolean }[];
}

interface Report {
  dryRun: boolean;
  summary: { selected: number; ok: number; moved: number; blocked: number; retryLater: number };
  runs: RunReport[];
}

type Which = "all" | "step" | "picked";

export function MigrationPage() {
  const { key = "" } = useParams();
  const [params] = useSearchParams();
  const { canPublish } = useSession();
  const versions = useLoad(() => api.get<{ items: VersionSummary[] }>(`/workflows/${seg(key)}/versions`), [key]);
  const counts = useLoad(() => api.get<StepCounts>(`/workflows/${seg(key)}/counts`), [key], 4000);
  const newest = useMemo(() => [...(versions.data?.items ?? [])].sort((a, b) => b.version - a.version), [versions.data]);
  const withRuns = useMemo(
    () => Object.keys(counts.data?.byVersion ?? {}).map(Number).filter((v) => activeAt(counts.data, v) > 0).sort((a, b) => a - b),
    [counts.data],
  );
  const [from, setFrom] = useState<number | null>(params.get("from") ? Number(params.get("from")) : null);
  const [to, setTo] = useState<number | null>(params.get("to") ? Number(params.get("to")) : null);
  const [which, setWhich] = useState<Which>(params.get("step") ? "step" : "all");
  const [atStep, setAtStep] = useState<string>(params.get("step") ?? "");
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [mapping, setMapping] = useState<Record<string, string>>({});
  const [report, setReport] = useState<Report | null>(null);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (from === null && withRuns.length) setFrom(withRuns[0]!);
  }, [withRuns, from]);
  useEffect(() => {
    if (to === null && newest.length) setTo(newest[0]!.version);
  }, [newest, to]);

  const source = useLoad<Definition | null>(async () => (from ? (await api.get<VersionDetail>(`/workflows/${seg(key)}/versions/${from}`)).definition : null), [key, from]);
  const target = useLoad<Definition | null>(async () => (to ? (await api.get<VersionDetail>(`/workflows/${seg(key)}/versions/${to}`)).definition : null), [key, to]);
  const runs = useLoad(
    async () => (from ? (await api.get<Page<RunItem>>(`/runs?workflow=${seg(key)}&version=${from}&status=active&limit=200`)).items : []),
    [key, from],
  );

  const activeSteps = useMemo(() => {
    return Object.entries(stepsAt(counts.data, from)).map(([stepId, c]) => ({ stepId, count: activeHere(c) })).filter((s) => s.count > 0);
  }, [counts.data, from]);
  const targetSteps = useMemo(() => (target.data ? walk(target.data).map((s) => s.step) : []), [target.data]);
  const sourceSteps = useMemo(() => new Map((source.data ? walk(source.data) : []).map((s) => [s.step.id, s.step])), [source.data]);

  // Which steps are active and which the target has; the counts polled every few seconds (and
  // reloaded after a move) change the arrays but not these keys, and must not wipe the report.
  const activeKey = activeSteps.map((s) => s.stepId).join("\n");
  const targetKey = targetSteps.map((s) => s.id).join("\n");
  useEffect(() => {
    // defaults: the same id when the target has it
    const ids = new Set(targetKey.split("\n"));
    setMapping((current) => {
      const next: Record<string, string> = {};
      for (const stepId of activeKey ? activeKey.split("\n") : []) next[stepId] = current[stepId] || (ids.has(stepId) ? stepId : "");
      return next;
    });
    setReport(null);
  }, [activeKey, targetKey]);

  const selection = (): unknown => {
    if (which === "picked") return [...picked];
    if (which === "step") return { step: atStep };
    return "all-active";
  };

  const body = (dryRun: boolean) => ({
    fromVersion: from,
    toVersion: to,
    runs: selection(),
    mapping: Object.fromEntries(Object.entries(mapping).filter(([old, next]) => next && next !== old)),
    dryRun,
  });

  const check = async () => {
    setBusy(true);
    setError(null);
    setProgress(null);
    try {
      setReport(await api.post<Report>(`/workflows/${seg(key)}/migrations`, body(true)));
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  const apply = async () => {
    setBusy(true);
    setError(null);
    setProgress({ done: 0, total: report?.summary.ok ?? 0 });
    try {
      const response = await fetch(`/api/workflows/${seg(key)}/migrations`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/x-ndjson", Authorization: `Bearer ${storedKey()}` },
        body: JSON.stringify(body(false)),
      });
      if (!response.ok || !response.body) {
        const failure = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
        throw new ApiError(response.status, "migration", failure?.error?.message ?? `The server answered ${response.status}.`, null);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (!line) continue;
          const item = JSON.parse(line) as { progress?: { done: number; total: number }; report?: Report; error?: { message: string } };
          if (item.progress) setProgress(item.progress);
          if (item.report) {
            setReport(item.report);
            setProgress((current) => (current ? { done: current.total, total: current.total } : current));
          }
          if (item.error) setError(item.error.message);
        }
      }
      counts.reload();
      runs.reload();
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };

  const okCount = report?.dryRun ? report.summary.ok : 0;
  const unmapped = activeSteps.filter((s) => !mapping[s.stepId]).map((s) => s.stepId);

  return (
    <div className="page migrate-page">
      <header className="page-header">
        <div>
          <div className="muted">
            <Link to={`/workflows/${seg(key)}`}>← Back to the designer</Link>
          </div>
          <h1>Move runs in flight</h1>
          <p className="muted">Runs stay on the version they started with unless you move them. Check first: nothing moves during a check.</p>
        </div>
      </header>
      {!canPublish && <div className="alert alert-info">Moving runs needs the admin role; you can look and run a check.</div>}
      {withRuns.length === 0 && counts.data && (
        <div className="empty">
          <h2>No runs in flight</h2>
          <p>Every run of this workflow has finished; there is nothing to move.</p>
        </div>
      )}
      {withRuns.length > 0 && (
        <div className="migrate-grid">
          <section className="card">
            <h2>1. Versions</h2>
            <div className="row">
              <label htmlFor="mig-from">From</label>
              <select id="mig-from" value={from ?? ""} onChange={(e) => setFrom(Number(e.target.value))}>
                {withRuns.map((v) => (
                  <option key={v} value={v}>
                    v{v} · {plural(activeAt(counts.data, v), "active run")}
                  </option>
                ))}
              </select>
              <label htmlFor="mig-to">To</label>
              <select id="mig-to" value={to ?? ""} onChange={(e) => setTo(Number(e.target.value))}>
                {newest.map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version}
                    {v.version === newest[0]?.version ? " (latest)" : ""}
                  </option>
                ))}
              </select>
            </div>
            {from === to && <p className="alert alert-warn">Choose a different target version.</p>}
          </section>
          <section className="card">
            <h2>2. Which runs</h2>
            <div className="choice-list" role="radiogroup" aria-label="Which runs">
              <label>
                <input type="radio" name="which" checked={which === "all"} onChange={() => setWhich("all")} /> All active runs of v{from}
              </label>
              <label>
                <input type="radio" name="which" checked={which === "step"} onChange={() => setWhich("step")} /> The runs at step{" "}
                <select aria-label="At step" value={atStep} onChange={(e) => { setWhich("step"); setAtStep(e.target.value); }}>
                  <option value="">choose…</option>
                  {activeSteps.map((s) => (
                    <option key={s.stepId} value={s.stepId}>
                      {s.stepId} ({s.count})
                    </option>
                  ))}
                </select>
              </label>
              <label>
                <input type="radio" name="which" checked={which === "picked"} onChange={() => setWhich("picked")} /> These runs:
              </label>
            </div>
            {which === "picked" && (
              <ul className="run-picks">
                {(runs.data ?? []).map((run) => (
                  <li key={run.runId}>
                    <label>
                      <input
                        type="checkbox"
                        checked={picked.has(run.runId)}
                        onChange={(e) => {
                          const next = new Set(picked);
                          if (e.target.checked) next.add(run.runId);
                          else next.delete(run.runId);
                          setPicked(next);
                        }}
                      />
                      <span className="mono">{run.runId.slice(0, 8)}</span> {run.subject && <span>{run.subject}</span>} <span className="muted">at {run.currentStep ?? "—"}</span>
                    </label>
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section className="card card-wide">
            <h2>3. Where each active step goes</h2>
            <table className="table compact" aria-label="Step mapping">
              <thead>
                <tr>
                  <th>Active step in v{from}</th>
                  <th className="num">Runs there</th>
                  <th>Step in v{to}</th>
                </tr>
              </thead>
              <tbody>
                {activeSteps.map(({ stepId, count }) => (
                  <tr key={stepId}>
                    <td>
                      <span className="mono">{stepId}</span> <span className="muted small">{typeInfo(sourceSteps.get(stepId)?.type ?? "").label}</span>
                    </td>
                    <td className="num">{count}</td>
                    <td>
                      <select aria-label={`Target of ${stepId}`} value={mapping[stepId] ?? ""} onChange={(e) => setMapping({ ...mapping, [stepId]: e.target.value })}>
                        <option value="">choose a step…</option>
                        {targetSteps.map((step) => (
                          <option key={step.id} value={step.id}>
                            {step.id} · {typeInfo(step.type).label}
                          </option>
                        ))}
                      </select>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {unmapped.length > 0 && <p className="hint">Not in v{to}: {unmapped.join(", ")} — choose where those runs go.</p>}
          </section>
          <section className="card card-wide">
            <h2>4. Check, then move</h2>
            <div className="actions">
              <button type="button" className="btn" onClick={() => void check()} disabled={busy || from === to || (which === "step" && !atStep) || (which === "picked" && picked.size === 0)}>
                Check (dry run)
              </button>
              {canPublish && (
                <button type="button" className="btn btn-primary" onClick={() => void apply()} disabled={busy || !report?.dryRun || okCount === 0}>
                  {report && !report.dryRun ? "Check again to move more" : `Move ${plural(okCount, "run")} to v${to}`}
                </button>
              )}
            </div>
            {error && (
              <div className="alert alert-error" role="alert">
                {error}
              </div>
            )}
            {progress && (
              <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={progress.total} aria-valuenow={progress.done}>
                <div style={{ width: `${progress.total ? (100 * progress.done) / progress.total : 100}%` }} />
                <span>
                  {progress.done} of {progress.total}
                </span>
              </div>
            )}
            {report && (
              <div data-testid="migration-report">
                <p className="report-summary">
                  {report.dryRun ? (
                    <>
                      <strong>{plural(report.summary.ok, "run")} can move</strong>, {report.summary.blocked} blocked (of {report.summary.selected} selected). Nothing has moved yet.
                    </>
                  ) : (
                    <>
                      <strong>{plural(report.summary.moved, "run")} moved to v{to}</strong>, {report.summary.blocked} blocked.
                    </>
                  )}
                  {report.summary.retryLater > 0 && ` ${report.summary.retryLater} may pass if you try again later.`}
                </p>
                <table className="table compact" aria-label="Runs">
                  <thead>
                    <tr>
                      <th>Run</th>
                      <th>Subject</th>
                      <th>At</th>
                      <th>Result</th>
                    </tr>
                  </thead>
                  <tbody>
                    {report.runs.map((run) => (
                      <tr key={run.runId} data-testid={`migration-run-${run.runId}`}>
                        <td className="mono">{run.runId.slice(0, 8)}</td>
                        <td>{run.subject ?? <span className="muted">—</span>}</td>
                        <td className="mono">{run.currentStep ?? "—"}</td>
                        <td>
                          <span className={`pill ${run.result === "blocked" ? "pill-err" : "pill-ok"}`}>{run.result === "ok" ? "can move" : run.result}</span>
                          {run.problems?.map((problem, index) => (
                            <div key={index} className="small problem-line">
                              {problem.message}
                              {problem.retryable ? " (try again later)" : ""}
                            </div>
                          ))}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </div>
      )}
    </div>
  );
}
