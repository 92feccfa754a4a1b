// Try the draft: run it in a sandbox on the server against a sample payload — actions without
// side effects run for real, the others answer with the sample outputs given here, waits and tasks
// are answered here; nothing is written to runs and nothing leaves the server. The path taken and
// each step's input and output show on the canvas and in the list.
import { useMemo, useState } from "react";
import Form from "@rjsf/core";
import validator from "@rjsf/validator-ajv8";
import { api, describeError, seg } from "../api/client";
import { useLoad } from "../api/hooks";
import type { ActionInfo, Definition, Json } from "../api/types";
import type { Mark } from "./Canvas";
import { JsonInput } from "./fields/ValueField";
import { walk } from "./model/tree";
import { typeInfo } from "./steps";

interface TrialStep {
  stepId: string;
  type: string;
  status: string;
  input?: unknown;
  output?: unknown;
  error?: { message?: string; category?: string } | null;
}

interface Trial {
  status: string;
  steps: TrialStep[];
  waitingAt: { stepId: string; kind: string; eventName?: string; title?: string; formSchema?: Record<string, unknown>; answerRefused?: boolean } | null;
  needsOutput: { stepId: string; actionId: string; version: number } | null;
  output?: unknown;
  error?: { message?: string } | null;
  vars?: unknown;
}

const sampleFromSchema = (schema: unknown): Json => {
  const s = schema as { type?: string; properties?: Record<string, unknown>; default?: Json; enum?: Json[] } | undefined;
  if (!s) return {};
  if (s.default !== undefined) return s.default;
  if (s.enum?.length) return s.enum[0]!;
  switch (s.type) {
    case "object":
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, sampleFromSchema(v)]));
    case "array":
      return [];
    case "integer":
    case "number":
      return 0;
    case "boolean":
      return false;
    case "string":
      return "";
    default:
      return null;
  }
};

export function TryPanel({
  workflowKey,
  doc,
  actions,
  onTrace,
  onClose,
}: {
  workflowKey: string;
  doc: Definition;
  actions: ActionInfo[];
  onTrace: (marks: Record<string, Mark>) => void;
  onClose: () => void;
}) {
  const [payload, setPayload] = useState<Json>(() => sampleFromSchema(doc.payloadSchema));
  const [payloadVersion, setPayloadVersion] = useState(0);
  const [outputs, setOutputs] = useState<Record<string, Json>>({});
  const [answers, setAnswers] = useState<Record<string, Json>>({});
  const [trial, setTrial] = useState<Trial | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const stubbed = useMemo(() => {
    const used = new Set(walk(doc).filter((s) => s.step.type === "action.call").map((s) => `${s.step.config?.actionId}@${s.step.config?.version ?? 1}`));
    return actions.filter((a) => used.has(`${a.actionId}@${a.version}`) && a.effect !== "none");
  }, [doc, actions]);

  const run = async (nextOutputs = outputs, nextAnswers = answers) => {
    setRunning(true);
    setError(null);
    try {
      const result = await api.post<Trial>(`/workflows/${seg(workflowKey)}/try`, { definition: doc, payload, outputs: nextOutputs, answers: nextAnswers });
      setTrial(result);
      const marks: Record<string, Mark> = {};
      for (const step of result.steps) marks[step.stepId] = step.status === "FAILED" ? "failed" : "taken";
      if (result.waitingAt) marks[result.waitingAt.stepId] = "current";
      onTrace(marks);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setRunning(false);
    }
  };

  const [fromRun, setFromRun] = useState("");
  const recent = useLoad(
    async () => (await api.get<{ items: { runId: string; subject: string | null; status: string; version: number; createdAt: string }[] }>(`/runs?workflow=${seg(workflowKey)}&limit=20`)).items,
    [workflowKey],
  );
  /** A recorded run's payload and its actions' outputs become the sample (redacted values stay
   * redacted: fill those in by hand). */
  const fillFromRun = async (runId: string) => {
    setFromRun(runId);
    if (!runId) return;
    try {
      const [run, steps] = await Promise.all([
        api.get<{ state?: { payload?: Json } }>(`/runs/${seg(runId)}`),
        api.get<{ items: { stepId: string; type: string; status: string; output?: Json }[] }>(`/runs/${seg(runId)}/steps`),
      ]);
      const byId = new Map(walk(doc).map((item) => [item.step.id, item.step]));
      const recorded: Record<string, Json> = { ...outputs };
      for (const item of steps.items) {
        const step = byId.get(item.stepId);
        if (item.type !== "action.call" || item.status.toLowerCase() !== "succeeded" || !step?.config) continue;
        recorded[`${step.config.actionId}@${step.config.version ?? 1}`] = item.output ?? null;
      }
      setPayload(run.state?.payload ?? {});
      setOutputs(recorded);
      setPayloadVersion((n) => n + 1);
    } catch (failure) {
      setError(describeError(failure));
    }
  };

  const payloadSchema = doc.payloadSchema as Record<string, unknown> | undefined;
  const waiting = trial?.waitingAt;
  const needs = trial?.needsOutput;
  const needsAction = needs ? actions.find((a) => a.actionId === needs.actionId && a.version === needs.version) : undefined;

  return (
    <aside className="panel" aria-label="Try the draft" data-testid="try-panel">
      <header className="panel-header">
        <div className="panel-title">
          <div className="muted small">Sandbox</div>
          <h2>Try the draft</h2>
        </div>
        <button type="button" className="icon-button" aria-label="Close the sandbox" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="panel-body">
        <p className="hint">Runs the draft on the server without publishing. Actions without side effects run for real; the others answer with the outputs you give. Nothing is stored and no email, webhook or payment leaves the server.</p>
        {(recent.data?.length ?? 0) > 0 && (
          <section className="panel-section">
            <h3>Start from a recorded run</h3>
            <select aria-label="Recorded run" value={fromRun} onChange={(e) => void fillFromRun(e.target.value)}>
              <option value="">a sample of your own</option>
              {recent.data!.map((run) => (
                <option key={run.runId} value={run.runId}>
                  {run.runId.slice(0, 8)} {run.subject ?? ""} · v{run.version} · {run.status.toLowerCase()}
                </option>
              ))}
            </select>
            <p className="hint">Its payload and its actions' recorded outputs fill the sample below.</p>
          </section>
        )}
        <section className="panel-section" key={payloadVersion}>
          <h3>Sample payload</h3>
          {payloadSchema && payloadSchema.type === "object" && payloadSchema.properties ? (
            <Form schema={payloadSchema} validator={validator} formData={payload} onChange={(e) => setPayload(e.formData as Json)} uiSchema={{ "ui:submitButtonOptions": { norender: true } }} liveOmit={false} showErrorList={false} idPrefix="try-payload" />
          ) : (
            <div className="field">
              <label htmlFor="try-payload-json">Payload (JSON)</label>
              <JsonInput id="try-payload-json" value={payload} readOnly={false} onChange={(v) => setPayload(v ?? {})} />
            </div>
          )}
        </section>
        {stubbed.length > 0 && (
          <section className="panel-section">
            <h3>Sample outputs of actions with side effects</h3>
            {stubbed.map((action) => {
              const key = `${action.actionId}@${action.version}`;
              return (
                <div className="field" key={key}>
                  <label htmlFor={`try-out-${key}`}>{action.actionId} v{action.version}</label>
                  <JsonInput id={`try-out-${key}`} value={outputs[key] ?? sampleFromSchema(action.outputSchema)} readOnly={false} rows={2} onChange={(v) => setOutputs({ ...outputs, [key]: v ?? {} })} />
                </div>
              );
            })}
          </section>
        )}
        <button type="button" className="btn btn-primary" onClick={() => void run()} disabled={running} data-testid="try-run">
          {running ? "Running…" : trial ? "Run again" : "Run the draft"}
        </button>
        {error && (
          <div className="alert alert-error" role="alert">
            {error}
          </div>
        )}
        {trial && (
          <section className="panel-section" data-testid="try-result">
            <h3>Result</h3>
            <p>
              <span className={`pill ${trial.status === "SUCCEEDED" ? "pill-ok" : trial.status === "FAILED" ? "pill-err" : "pill-live"}`} data-testid="try-status">
                {trial.status === "WAITING" ? "waiting for an answer" : trial.status.toLowerCase()}
              </span>{" "}
              {trial.error?.message && <span className="muted">{trial.error.message}</span>}
            </p>
            {waiting && (
              <div className="answer-box">
                <strong>
                  {waiting.kind === "event" ? `Waiting for the event “${waiting.eventName}” at ${waiting.stepId}` : waiting.kind === "task" ? `Waiting for the task “${waiting.title}” at ${waiting.stepId}` : `Waiting at ${waiting.stepId}`}
                </strong>
                {waiting.answerRefused && <p className="field-error" role="alert" data-testid="try-answer-refused">The wait's filter did not accept this payload: give one it accepts.</p>}
                {waiting.kind === "task" && waiting.formSchema ? (
                  <Form schema={waiting.formSchema} validator={validator} idPrefix="try-task" onSubmit={(e) => void (setAnswers({ ...answers, [waiting.stepId]: e.formData as Json }), run(outputs, { ...answers, [waiting.stepId]: e.formData as Json }))}>
                    <button type="submit" className="btn btn-small btn-primary">
                      Complete the task and continue
                    </button>
                  </Form>
                ) : (
                  <AnswerForm label={waiting.kind === "event" ? "Event payload (JSON)" : "Continue"} onAnswer={(value) => {
                    const next = { ...answers, [waiting.stepId]: value };
                    setAnswers(next);
                    void run(outputs, next);
                  }} />
                )}
              </div>
            )}
            {needs && (
              <div className="answer-box">
                <strong>Give a sample output for {needs.actionId} v{needs.version} (step {needs.stepId})</strong>
                {needsAction?.outputSchema ? (
                  <Form schema={needsAction.outputSchema} validator={validator} idPrefix="try-output" onSubmit={(e) => {
                    const next = { ...outputs, [`${needs.actionId}@${needs.version}`]: e.formData as Json };
                    setOutputs(next);
                    void run(next, answers);
                  }}>
                    <button type="submit" className="btn btn-small btn-primary">
                      Use this output and continue
                    </button>
                  </Form>
                ) : null}
              </div>
            )}
            <ol className="trace">
              {trial.steps.map((step, index) => (
                <li key={`${step.stepId}-${index}`} className={`trace-${step.status.toLowerCase()}`}>
                  <details>
                    <summary>
                      <span className="mono">{step.stepId}</span> <span className="muted small">{typeInfo(step.type).label}</span>
                    </summary>
                    <div className="trace-io">
                      <div>
                        <div className="muted small">input</div>
                        <pre>{JSON.stringify(step.input ?? null, null, 2)}</pre>
                      </div>
                      <div>
                        <div className="muted small">output</div>
                        <pre>{JSON.stringify(step.output ?? step.error ?? null, null, 2)}</pre>
                      </div>
                    </div>
                  </details>
                </li>
              ))}
            </ol>
            {trial.status === "SUCCEEDED" && trial.output !== undefined && (
              <>
                <div className="muted small">Run output</div>
                <pre>{JSON.stringify(trial.output, null, 2)}</pre>
              </>
            )}
          </section>
        )}
        <ShadowSection workflowKey={workflowKey} onMarks={onTrace} />
      </div>
    </aside>
  );
}

interface ShadowRun {
  runId: string;
  recordedVersion?: number;
  recordedStatus?: string;
  result: "same" | "diverges" | "in-progress" | "incomplete" | "not-found";
  divergence: { stepId: string | null; message: string } | null;
  stopped: { stepId?: string | null; message?: string } | null;
}

const SHADOW_WORDS: Record<string, string> = {
  same: "same path and results",
  diverges: "would go differently",
  "in-progress": "same so far (still running)",
  incomplete: "could not be followed to the end",
  "not-found": "not found",
};

/** The draft against the workflow's latest recorded runs (their payloads, action outputs,
 * events and task answers): where each would go differently. Nothing is called or written. */
function ShadowSection({ workflowKey, onMarks }: { workflowKey: string; onMarks: (marks: Record<string, Mark>) => void }) {
  const [last, setLast] = useState(20);
  const [runs, setRuns] = useState<ShadowRun[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const replay = async () => {
    setBusy(true);
    setError(null);
    try {
      const report = await api.post<{ runs: ShadowRun[] }>(`/workflows/${seg(workflowKey)}/shadow`, { version: "draft", runs: { last } });
      setRuns(report.runs);
      const marks: Record<string, Mark> = {};
      for (const run of report.runs) if (run.divergence?.stepId) marks[run.divergence.stepId] = "failed";
      onMarks(marks);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel-section" data-testid="shadow">
      <h3>Against recorded runs</h3>
      <p className="hint">Replays the draft on the latest runs of this workflow with what really happened to them (their payloads, action outputs, events and answers) and says where the draft would go differently.</p>
      <div className="compare-row shadow-row">
        <label htmlFor="shadow-last">Last</label>
        <input id="shadow-last" type="number" min={1} max={1000} value={last} onChange={(e) => setLast(Math.max(1, Math.min(1000, Number(e.target.value) || 1)))} />
        <span>runs</span>
        <button type="button" className="btn btn-small" onClick={() => void replay()} disabled={busy}>
          {busy ? "Replaying…" : "Replay against the draft"}
        </button>
      </div>
      {error && (
        <div className="alert alert-error" role="alert">
          {error}
        </div>
      )}
      {runs && runs.length === 0 && <p className="hint">This workflow has no recorded runs yet.</p>}
      {runs && runs.length > 0 && (
        <ul className="change-list">
          {runs.map((run) => (
            <li key={run.runId} className="change">
              <div className="change-head">
                <span className="mono">{run.runId.slice(0, 8)}</span>
                <span className={`pill ${run.result === "same" || run.result === "in-progress" ? "pill-ok" : run.result === "diverges" ? "pill-err" : "pill-warn"}`}>{SHADOW_WORDS[run.result] ?? run.result}</span>
                {run.recordedVersion !== undefined && <span className="muted small">ran on v{run.recordedVersion}</span>}
              </div>
              {(run.divergence?.message || run.stopped?.message) && <div className="small">{run.divergence?.message ?? run.stopped?.message}</div>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function AnswerForm({ label, onAnswer }: { label: string; onAnswer: (value: Json) => void }) {
  const [value, setValue] = useState<Json>({});
  return (
    <div className="field">
      <label htmlFor="try-answer">{label}</label>
      <JsonInput id="try-answer" value={value} readOnly={false} rows={2} onChange={(v) => setValue(v ?? {})} />
      <button type="button" className="btn btn-small btn-primary" onClick={() => onAnswer(value)} data-testid="try-answer">
        Send and continue
      </button>
    </div>
  );
}
