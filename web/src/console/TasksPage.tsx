// Tasks inbox: tasks assigned to me (the key's name), to someone chosen, or all; an open task
// shows its description, its run, its deadline and the form generated from its JSON Schema;
// completing it sends the form; a refused answer is shown in words.
import Form from "@rjsf/core";
import validator from "@rjsf/validator-ajv8";
import type { RJSFSchema } from "@rjsf/utils";
import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { describeError } from "../api/client";
import { consoleApi, type Task } from "../api/console";
import { useLoad } from "../api/hooks";
import { useSession } from "../api/session";
import { relativeTime } from "../app/format";
import { countdown, dateTime, JsonBlock, LIVE_MS, shortId, StatusPill, useNow } from "./parts";

type Scope = "all" | "me" | "assignee";

export function TasksPage() {
  const [params, setParams] = useSearchParams();
  const scope = (params.get("scope") as Scope | null) ?? "all";
  const assignee = params.get("assignee") ?? "";
  const status = params.get("status") ?? "open";
  const openId = params.get("task");
  const tasks = useLoad(
    () =>
      consoleApi.tasks({
        status,
        assignee: scope === "me" ? "me" : scope === "assignee" && assignee ? assignee : undefined,
      }),
    [scope, assignee, status],
    LIVE_MS,
  );

  function set(values: Record<string, string | null>) {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(values)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setParams(next, { replace: true });
  }

  const items = tasks.data?.items ?? [];
  return (
    <div className="page console-page">
      <header className="page-header">
        <div>
          <h1>Tasks</h1>
          <p className="muted">Decisions runs wait for. Open one, fill in its form, and the run goes on.</p>
        </div>
      </header>
      <div className="filters" role="group" aria-label="Whose tasks">
        <div className="segmented">
          {(
            [
              ["all", "All"],
              ["me", "Assigned to me"],
              ["assignee", "Assigned to…"],
            ] as const
          ).map(([value, label]) => (
            <button
              key={value}
              type="button"
              className={`segment ${scope === value ? "active" : ""}`}
              aria-pressed={scope === value}
              onClick={() => set({ scope: value === "all" ? null : value })}
            >
              {label}
            </button>
          ))}
        </div>
        {scope === "assignee" && (
          <input
            aria-label="Assignee"
            placeholder="name"
            defaultValue={assignee}
            onKeyDown={(e) => e.key === "Enter" && set({ assignee: (e.target as HTMLInputElement).value.trim() || null })}
            onBlur={(e) => set({ assignee: e.target.value.trim() || null })}
          />
        )}
        <label>
          Status
          <select value={status} onChange={(e) => set({ status: e.target.value === "open" ? null : e.target.value })}>
            <option value="open">Open</option>
            <option value="completed">Completed</option>
            <option value="timed_out">Timed out</option>
            <option value="canceled">Canceled</option>
            <option value="all">All</option>
          </select>
        </label>
      </div>
      {tasks.error ? (
        <div className="alert alert-error" role="alert">
          The tasks could not be loaded: {describeError(tasks.error)}
        </div>
      ) : null}
      <div className="inbox">
        <ul className="inbox-list" aria-label="Tasks">
          {!tasks.loading && items.length === 0 && <li className="muted inbox-empty">No task here.</li>}
          {items.map((task) => (
            <li key={task.taskId}>
              <button
                type="button"
                className={`inbox-item ${openId === task.taskId ? "active" : ""}`}
                onClick={() => set({ task: task.taskId })}
              >
                <span className="inbox-title">{task.title}</span>
                <span className="muted small">
                  {task.workflow ?? "?"} · {task.subject ?? shortId(task.runId)} · <span title={dateTime(task.createdAt)}>{relativeTime(task.createdAt)}</span>
                  {task.assignee ? ` · for ${task.assignee}` : ""}
                </span>
                {task.status !== "open" && <StatusPill status={task.status} />}
              </button>
            </li>
          ))}
        </ul>
        <div className="inbox-detail">
          {openId ? (
            <TaskDetail key={openId} taskId={openId} onDone={() => tasks.reload()} />
          ) : (
            <div className="empty">
              <h2>Pick a task</h2>
              <p>Its description, its run and its form open here.</p>
            </div>
          )}
        </div>
      </div>
    </div>
  );
}

function TaskDetail({ taskId, onDone }: { taskId: string; onDone: () => void }) {
  const { canEdit } = useSession();
  const now = useNow(1000);
  const task = useLoad(() => consoleApi.task(taskId), [taskId]);
  const [formData, setFormData] = useState<unknown>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<Task | null>(null);
  const [busy, setBusy] = useState(false);

  if (task.error) {
    return (
      <div className="alert alert-error" role="alert">
        {describeError(task.error)}
      </div>
    );
  }
  const view = done ?? task.data;
  if (!view) return <p className="muted">Loading the task…</p>;

  async function submit(data: unknown) {
    setBusy(true);
    setError(null);
    try {
      const completed = await consoleApi.completeTask(taskId, data);
      setDone(completed);
      onDone();
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <article className="card task-card" aria-label="Task">
      <header>
        <h2>{view.title}</h2>
        <p className="muted small">
          <Link to={`/runs/${view.runId}`}>
            run of {view.workflow ?? "?"} · {view.subject ?? shortId(view.runId)}
          </Link>{" "}
          · step <code>{view.stepId}</code>
          {view.assignee ? ` · assigned to ${view.assignee}` : " · not assigned"}
          {view.dueAt ? ` · deadline ${dateTime(view.dueAt)} (${countdown(view.dueAt, now)})` : ""}
        </p>
      </header>
      {view.description && <pre className="task-description">{view.description}</pre>}
      {view.status !== "open" ? (
        <div className="alert alert-info" role="status">
          This task is {view.status.replace("_", " ")}
          {view.completedBy ? ` by ${view.completedBy}` : ""}
          {view.completedAt ? ` (${dateTime(view.completedAt)})` : ""}.{" "}
          <Link to={`/runs/${view.runId}`}>Follow the run</Link>
          {view.data !== null && <JsonBlock label="answer" value={view.data} />}
        </div>
      ) : canEdit ? (
        <div className="task-form">
          {error && (
            <div className="alert alert-error" role="alert">
              {error}
            </div>
          )}
          <Form
            schema={view.formSchema as RJSFSchema}
            validator={validator}
            formData={formData}
            onChange={(event) => setFormData(event.formData)}
            onSubmit={(event) => submit(event.formData)}
            showErrorList="top"
            disabled={busy}
          >
            <div className="form-actions">
              <button className="btn btn-primary" type="submit" disabled={busy}>
                Complete task
              </button>
            </div>
          </Form>
        </div>
      ) : (
        <p className="muted">Your key is read-only: an editor or admin completes this task.</p>
      )}
    </article>
  );
}
