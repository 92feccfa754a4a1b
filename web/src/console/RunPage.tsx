// The run viewer: header, what the run waits for now (with a countdown), operator actions
// (admin, each confirmed; retry shows its side-effect preview first), the run drawn over its
// workflow, the step timeline nested by loop item and branch, state, parent and children.
// Refreshes while the run moves; open panels and the scroll position stay as they are.
import { useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { describeError, seg } from "../api/client";
import { consoleApi, TERMINAL, type HistoryItem, type RetryPreview, type RunView, type WaitingFor } from "../api/console";
import { useLoad } from "../api/hooks";
import { useSession } from "../api/session";
import { Modal } from "../app/Modal";
import { plural } from "../app/format";
import {
  between,
  countdown,
  dateTime,
  Field,
  formatDuration,
  JsonBlock,
  LIVE_MS,
  shortId,
  StatusPill,
  useNow,
} from "./parts";
import { RunCanvas } from "./RunCanvas";
import { allSteps, buildTimeline, stepMarks, type TimelineEntry } from "./timeline";

type Dialog = null | "cancel" | "resume" | "rerun" | "retry";

export function RunPage() {
  const { runId = "" } = useParams();
  const navigate = useNavigate();
  const { canPublish } = useSession();
  const now = useNow(1000);
  const run = useLoad(() => consoleApi.run(runId), [runId], LIVE_MS);
  const steps = useLoad(() => consoleApi.steps(runId), [runId], LIVE_MS);
  const children = useLoad(() => consoleApi.children(runId), [runId], LIVE_MS);
  const view = run.data;
  const version = useLoad(
    () => (view ? consoleApi.version(view.workflow, view.version) : Promise.resolve(null)),
    [view?.workflow, view?.version],
  );
  const [dialog, setDialog] = useState<Dialog>(null);
  const [notice, setNotice] = useState<string | null>(null);

  if (run.error && !view) {
    return (
      <div className="page">
        <div className="alert alert-error" role="alert">
          This run could not be loaded: {describeError(run.error)}
        </div>
        <Link to="/runs">← All runs</Link>
      </div>
    );
  }
  if (!view) return <div className="page muted">Loading the run…</div>;

  const history = steps.data?.items ?? [];
  const terminal = TERMINAL.includes(view.status);
  const hasTimer = view.waitingFor.some((w) => w.kind === "timer");
  const duration = between(view.createdAt, view.finishedAt, now);
  const meta = view.state.meta ?? {};
  const current = view.currentStep ? view.currentStep.split(",") : view.waitingFor.map((w) => w.stepId);
  const marks = stepMarks(history, terminal ? [] : current);

  function done(message: string, next?: RunView) {
    setDialog(null);
    setNotice(message);
    if (next) run.setData(next);
    run.reload();
    steps.reload();
  }

  return (
    <div className="page console-page run-page">
      <div className="crumbs">
        <Link to="/runs">Runs</Link> › <span className="mono">{shortId(view.runId)}</span>
      </div>
      <header className="page-header run-header">
        <div>
          <h1>
            {view.subject || "(no subject)"} <StatusPill status={view.status} />
          </h1>
          <p className="muted">
            <Link to={`/workflows/${seg(view.workflow)}?version=${view.version}`} title="Open this version in the designer">
              {view.workflow} · version {view.version}
            </Link>
            {typeof meta.state === "string" && (
              <>
                {" "}
                · state <code>{meta.state}</code>
              </>
            )}{" "}
            ·{" "}
            <button
              type="button"
              className="link-button"
              onClick={() => document.getElementById("run-path")?.scrollIntoView({ behavior: "smooth" })}
            >
              its path on the workflow ↓
            </button>
          </p>
        </div>
        {canPublish && (
          <div className="actions" aria-label="Operator actions">
            {!terminal && (
              <button className="btn btn-danger" type="button" onClick={() => setDialog("cancel")}>
                Cancel run
              </button>
            )}
            {hasTimer && (
              <button className="btn" type="button" onClick={() => setDialog("resume")}>
                Resume now
              </button>
            )}
            {terminal && (
              <button className="btn" type="button" onClick={() => setDialog("retry")}>
                Retry…
              </button>
            )}
            <button className="btn" type="button" onClick={() => setDialog("rerun")}>
              New run, same input
            </button>
            {!terminal && (
              <Link className="btn" to={`/workflows/${seg(view.workflow)}/migrate?run=${seg(view.runId)}`}>
                Migrate…
              </Link>
            )}
          </div>
        )}
      </header>

      {notice && (
        <div className="alert alert-info" role="status" onClick={() => setNotice(null)}>
          {notice}
        </div>
      )}

      <section className="facts card">
        <Field label="Run id">
          <code>{view.runId}</code>
        </Field>
        <Field label="Started">{dateTime(view.createdAt)}</Field>
        <Field label="Ended">{view.finishedAt ? dateTime(view.finishedAt) : <span className="muted">still going</span>}</Field>
        <Field label="Duration">{formatDuration(duration)}</Field>
        {view.parentRunId && (
          <Field label="Parent run">
            <Link to={`/runs/${view.parentRunId}`}>{shortId(view.parentRunId)}</Link>
          </Field>
        )}
        {(children.data?.items.length ?? 0) > 0 && (
          <Field label="Child runs">
            {children.data!.items.map((child) => (
              <div key={child.runId}>
                <Link to={`/runs/${child.runId}`}>
                  {child.workflow} {shortId(child.runId)}
                </Link>{" "}
                <StatusPill status={child.status} />
              </div>
            ))}
          </Field>
        )}
      </section>

      {view.waitingFor.length > 0 && (
        <section className="card waits" aria-label="Waiting for">
          <h3>Why it waits</h3>
          {view.waitingFor.map((wait) => (
            <WaitLine key={wait.token} wait={wait} now={now} />
          ))}
        </section>
      )}
      {view.status === "FAILED" && view.error && (
        <section className="card failure" role="alert">
          <h3>Why it failed</h3>
          <p>
            <strong>{view.error.category}</strong> at step <code>{String(view.error.stepId ?? "?")}</code>:{" "}
            {view.error.message}
          </p>
        </section>
      )}

      <div className="run-columns">
        <section className="card">
          <h3>Timeline</h3>
          {history.length === 0 ? (
            <p className="muted">No step has finished yet.</p>
          ) : (
            <Timeline entries={buildTimeline(history)} />
          )}
        </section>
        <aside className="run-side">
          <section className="card">
            <h3>State {terminal ? "at the end" : "now"}</h3>
            <JsonBlock label="payload" value={view.state.payload} />
            <JsonBlock label="vars" value={view.state.vars} />
            <JsonBlock label="meta" value={view.state.meta} />
            {view.output !== null && <JsonBlock label="output" value={view.output} />}
          </section>
        </aside>
      </div>

      <section className="card run-path" id="run-path" aria-label="The run's path">
        <h3>Path</h3>
        {version.data ? (
          <RunCanvas workflow={view.workflow} definition={version.data.definition} marks={marks} />
        ) : (
          <p className="muted">Loading version {view.version}…</p>
        )}
        <p className="hint">
          Green: the steps it went through; outlined: where it is now; red: where it failed. Grey steps were not
          reached.
        </p>
      </section>

      {dialog === "cancel" && (
        <Confirm
          title="Cancel this run"
          text="The run stops for good: its waits close, its open task is withdrawn and its child runs are canceled too. No event or timer can revive it."
          action="Cancel run"
          onClose={() => setDialog(null)}
          onConfirm={async () => done("Run canceled.", await consoleApi.cancel(view.runId))}
        />
      )}
      {dialog === "resume" && (
        <Confirm
          title="Resume now"
          text="The timer the run waits on fires now instead of at its due time; the run goes on at once. The timeline will say an operator resumed it."
          action="Resume now"
          onClose={() => setDialog(null)}
          onConfirm={async () => done("Timer fired: the run goes on.", await consoleApi.resume(view.runId))}
        />
      )}
      {dialog === "rerun" && (
        <Confirm
          title="Start a new run with the same input"
          text={`A new run of ${view.workflow} version ${view.version} starts with this run's payload and subject. This run is not changed.`}
          action="Start new run"
          onClose={() => setDialog(null)}
          onConfirm={async () => {
            const fresh = await consoleApi.rerun(view.runId);
            setDialog(null);
            navigate(`/runs/${fresh.runId}`);
          }}
        />
      )}
      {dialog === "retry" && (
        <RetryDialog
          run={view}
          stepIds={allSteps(version.data?.definition).map((s) => s.id)}
          onClose={() => setDialog(null)}
          onDone={(next, from) => done(`Retrying from ${from}.`, next)}
        />
      )}
    </div>
  );
}

function WaitLine({ wait, now }: { wait: WaitingFor; now: number }) {
  const due = wait.dueAt ? (
    <span className="countdown" title={dateTime(wait.dueAt)}>
      {" "}
      — {wait.kind === "timer" ? "fires" : "gives up"} {countdown(wait.dueAt, now)} ({dateTime(wait.dueAt)})
    </span>
  ) : null;
  let what;
  if (wait.kind === "event")
    what = (
      <>
        the event <code>{wait.eventName}</code>{" "}
        {wait.correlationKey ? (
          <>
            with key <code>{wait.correlationKey}</code>
          </>
        ) : (
          "with no key"
        )}
      </>
    );
  else if (wait.kind === "timer")
    what = wait.reason === "retry" ? <>the next attempt (retry back-off)</> : <>a timer (time.wait)</>;
  else if (wait.kind === "task")
    what = (
      <>
        a person: <Link to={`/tasks?task=${seg(wait.taskId ?? "")}`}>open the task</Link>
      </>
    );
  else
    what = (
      <>
        the child run <Link to={`/runs/${wait.childRunId}`}>{shortId(wait.childRunId ?? "")}</Link>
      </>
    );
  return (
    <p className="wait-line" data-testid="waiting-for">
      Step <code>{wait.stepId}</code> waits for {what}
      {due}
    </p>
  );
}

function Timeline({ entries }: { entries: TimelineEntry[] }) {
  return (
    <ol className="timeline">
      {entries.map((entry) =>
        entry.kind === "group" ? (
          <li key={`g:${entry.key}`} className="timeline-group">
            <details open>
              <summary>{entry.label}</summary>
              <Timeline entries={entry.entries} />
            </details>
          </li>
        ) : (
          <TimelineItem key={entry.key} item={entry.item} />
        ),
      )}
    </ol>
  );
}

/** An API key as history names it: its name in quotes, or "key <id>" when it has none. */
function who(by: string): string {
  return by.startsWith("key ") ? by : `“${by}”`;
}

function detailText(item: HistoryItem): string | null {
  const detail = item.detail;
  if (!detail) return null;
  if (detail.action) {
    const by = detail.by ? ` by ${who(detail.by)}` : "";
    if (detail.action === "canceled")
      return detail.withParent ? `canceled with its parent run${by}` : `canceled${detail.bulk ? " (bulk)" : ""}${by}`;
    if (detail.action === "retried") return `retried${detail.fromStep ? ` from ${detail.fromStep}` : " from the failed step"}${by}`;
    if (detail.action === "rerun") return `started a new run with the same input${by}`;
    if (detail.action === "resumed") return `timer fired early${by}`;
    return `${detail.action}${by}`;
  }
  if (detail.eventId) return `resolved by event ${detail.eventId}`;
  if (detail.taskId) return `completed by ${detail.completedBy ? who(detail.completedBy) : "someone"}`;
  if (detail.resumedBy) return `resumed by an operator${detail.operator ? ` (${who(detail.operator)})` : ""}`;
  return null;
}

function TimelineItem({ item }: { item: HistoryItem }) {
  const note = detailText(item);
  const operator = item.type === "operator";
  return (
    <li className={`timeline-item timeline-${item.status} ${operator ? "timeline-operator" : ""}`} data-testid="timeline-item">
      <div className="timeline-head">
        <StatusPill status={item.status} />
        {operator ? <strong className="timeline-step">Operator</strong> : <code className="timeline-step">{item.stepId}</code>}
        {!operator && <span className="muted small">{item.type}</span>}
        {item.attempt > 1 && <span className="pill">attempt {item.attempt}</span>}
        {!operator && <span className="muted small">v{item.version}</span>}
        <span className="timeline-time muted small" title={`ended ${dateTime(item.at)}`}>
          {dateTime(item.startedAt ?? item.at)}
          {item.durationMs !== null && !operator && ` · ${formatDuration(item.durationMs)}`}
        </span>
      </div>
      {note && (
        <div className="timeline-note small">
          {item.detail?.eventId ? (
            <Link to={`/events?open=${seg(item.detail.eventId)}`}>{note}</Link>
          ) : item.detail?.newRunId ? (
            <>
              {note}: <Link to={`/runs/${item.detail.newRunId}`}>{shortId(item.detail.newRunId)}</Link>
            </>
          ) : (
            note
          )}
        </div>
      )}
      {item.error && (
        <div className="timeline-error small">
          <strong>{item.error.category}</strong>: {item.error.message}
        </div>
      )}
      <div className="timeline-json">
        {item.input !== null && <JsonBlock label="input" value={item.input} />}
        {item.output !== null && <JsonBlock label="output" value={item.output} />}
        {item.error !== null && <JsonBlock label="error" value={item.error} />}
      </div>
    </li>
  );
}

function Confirm({
  title,
  text,
  action,
  onClose,
  onConfirm,
}: {
  title: string;
  text: string;
  action: string;
  onClose: () => void;
  onConfirm: () => Promise<void>;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <Modal title={title} onClose={onClose}>
      <p>{text}</p>
      {error && (
        <div className="alert alert-error" role="alert">
          {error}
        </div>
      )}
      <div className="form-actions">
        <button className="btn" type="button" onClick={onClose}>
          Back
        </button>
        <button
          className="btn btn-primary"
          type="button"
          disabled={busy}
          onClick={async () => {
            setBusy(true);
            try {
              await onConfirm();
            } catch (failure) {
              setError(describeError(failure));
              setBusy(false);
            }
          }}
        >
          {action}
        </button>
      </div>
    </Modal>
  );
}

function RetryDialog({
  run,
  stepIds,
  onClose,
  onDone,
}: {
  run: RunView;
  stepIds: string[];
  onClose: () => void;
  onDone: (next: RunView, from: string) => void;
}) {
  const failed = typeof run.error?.stepId === "string" ? run.error.stepId : "";
  const [fromStep, setFromStep] = useState<string>("");
  const [preview, setPreview] = useState<RetryPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let alive = true;
    setPreview(null);
    setError(null);
    consoleApi
      .retryPreview(run.runId, fromStep || undefined)
      .then((found) => alive && setPreview(found))
      .catch((failure: unknown) => alive && setError(describeError(failure)));
    return () => {
      alive = false;
    };
  }, [run.runId, fromStep]);

  const sideEffects = preview?.actions.filter((a) => a.effect === "side_effect" && a.answeredByLedger !== true) ?? [];
  return (
    <Modal title="Retry the run" onClose={onClose} wide>
      <label className="form">
        Restart from
        <select value={fromStep} onChange={(e) => setFromStep(e.target.value)} aria-label="Restart from">
          <option value="">{failed ? `the step that failed (${failed})` : "where it stopped"}</option>
          {stepIds.map((id) => (
            <option key={id} value={id}>
              {id}
            </option>
          ))}
        </select>
      </label>
      {error && (
        <div className="alert alert-error" role="alert">
          {error}
        </div>
      )}
      {preview && (
        <div className="preview" data-testid="retry-preview">
          <h3>What may run again from {preview.fromStep}</h3>
          {preview.actions.length === 0 ? (
            <p>No action call: retrying repeats no side effect.</p>
          ) : (
            <>
              <p>
                {sideEffects.length
                  ? `${plural(sideEffects.length, "call")} with side effects may happen again.`
                  : "No side effect happens twice: every call is harmless or already answered."}
              </p>
              <table className="table">
                <thead>
                  <tr>
                    <th>Step</th>
                    <th>Action</th>
                    <th>Effect</th>
                    <th>Already done?</th>
                    <th>Why</th>
                  </tr>
                </thead>
                <tbody>
                  {preview.actions.map((action) => (
                    <tr key={action.token}>
                      <td>
                        <code>{action.stepId}</code>
                      </td>
                      <td>
                        {action.actionId}@{action.version}
                      </td>
                      <td>
                        <span className={`pill ${action.effect === "side_effect" ? "pill-err" : "pill-ok"}`}>{action.effect}</span>
                      </td>
                      <td>
                        {action.answeredByLedger === true
                          ? "yes: the stored result is reused"
                          : action.answeredByLedger === false
                            ? "no: it is called"
                            : "known only when it runs"}
                      </td>
                      <td className="small">{action.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </div>
      )}
      <div className="form-actions">
        <button className="btn" type="button" onClick={onClose}>
          Back
        </button>
        <button
          className="btn btn-primary"
          type="button"
          disabled={!preview || busy}
          onClick={async () => {
            setBusy(true);
            try {
              onDone(await consoleApi.retry(run.runId, fromStep || undefined), preview?.fromStep ?? fromStep);
            } catch (failure) {
              setError(describeError(failure));
              setBusy(false);
            }
          }}
        >
          Retry from {preview?.fromStep ?? "…"}
        </button>
      </div>
    </Modal>
  );
}
