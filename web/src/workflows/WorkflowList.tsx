// Workflows: search; per workflow the latest version, whether the draft changed since it was
// published, paused, active runs; create, duplicate, pause/resume.
import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router-dom";
import { api, describeError, seg } from "../api/client";
import { useLoad } from "../api/hooks";
import { useSession } from "../api/session";
import type { Page, WorkflowSummary } from "../api/types";
import { Modal } from "../app/Modal";
import { dateTime, relativeTime } from "../app/format";
import { workflowStatus } from "./status";

export function WorkflowList() {
  const { canEdit } = useSession();
  const [search, setSearch] = useState("");
  const [dialog, setDialog] = useState<null | { mode: "create" } | { mode: "duplicate"; from: WorkflowSummary }>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const list = useLoad(
    () => api.get<Page<WorkflowSummary>>(`/workflows?limit=500${search ? `&search=${seg(search)}` : ""}`),
    [search],
    5000,
  );

  async function togglePause(workflow: WorkflowSummary) {
    try {
      await api.patch(`/workflows/${seg(workflow.key)}`, { paused: !workflow.paused });
      setNotice(workflow.paused ? `${workflow.key} resumed.` : `${workflow.key} paused: new runs wait until you resume it.`);
      list.reload();
    } catch (error) {
      setNotice(describeError(error));
    }
  }

  const items = list.data?.items ?? [];
  return (
    <div className="page">
      <header className="page-header">
        <div>
          <h1>Workflows</h1>
          <p className="muted">Design, publish and watch the processes your product runs.</p>
        </div>
        <div className="actions">
          <input
            type="search"
            className="search"
            placeholder="Search by name or key"
            aria-label="Search workflows"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
          {canEdit && (
            <button className="btn btn-primary" type="button" onClick={() => setDialog({ mode: "create" })}>
              New workflow
            </button>
          )}
        </div>
      </header>
      {notice && (
        <div className="alert alert-info" role="status" onClick={() => setNotice(null)}>
          {notice}
        </div>
      )}
      {list.error ? (
        <div className="alert alert-error" role="alert">
          The workflows could not be loaded: {describeError(list.error)}
        </div>
      ) : null}
      {!list.loading && items.length === 0 && !list.error ? (
        <div className="empty">
          <h2>{search ? "No workflow matches your search" : "No workflows yet"}</h2>
          <p>
            {search
              ? "Try part of the name or the key."
              : "A workflow is a pipeline of steps: actions, waits, decisions. Create one to start."}
          </p>
          {canEdit && !search && (
            <button className="btn btn-primary" type="button" onClick={() => setDialog({ mode: "create" })}>
              Create your first workflow
            </button>
          )}
        </div>
      ) : null}
      {items.length > 0 && (
        <table className="table" aria-label="Workflows">
          <thead>
            <tr>
              <th>Workflow</th>
              <th>Published</th>
              <th>Draft</th>
              <th className="num">Active runs</th>
              <th>Status</th>
              <th>Updated</th>
              {canEdit && <th aria-label="Actions" />}
            </tr>
          </thead>
          <tbody>
            {items.map((workflow) => (
              <tr key={workflow.key} data-testid={`workflow-row-${workflow.key}`}>
                <td>
                  <Link className="row-title" to={`/workflows/${seg(workflow.key)}`}>
                    {workflow.name || workflow.key}
                  </Link>
                  <div className="mono muted small">{workflow.key}</div>
                </td>
                <td>
                  {workflow.latestVersion ? (
                    <span className="pill">v{workflow.latestVersion}</span>
                  ) : (
                    <span className="muted">never published</span>
                  )}
                  {workflow.lastPublishedAt && (
                    <div className="muted small" title={dateTime(workflow.lastPublishedAt)}>
                      {relativeTime(workflow.lastPublishedAt)}
                    </div>
                  )}
                </td>
                <td>
                  {workflow.draftChanged === undefined ? (
                    <span className="muted">revision {workflow.draftRevision}</span>
                  ) : workflow.draftChanged ? (
                    <span className="pill pill-warn" title="The draft has changes that are not published">
                      unpublished changes
                    </span>
                  ) : workflow.latestVersion ? (
                    <span className="muted">same as published</span>
                  ) : (
                    <span className="muted">no steps yet</span>
                  )}
                </td>
                <td className="num">
                  {workflow.activeRuns > 0 ? (
                    <span className="pill pill-live">{workflow.activeRuns}</span>
                  ) : (
                    <span className="muted">0</span>
                  )}
                </td>
                <td>
                  <WorkflowStatus workflow={workflow} />
                </td>
                <td className="muted" title={dateTime(workflow.updatedAt)}>
                  {relativeTime(workflow.updatedAt)}
                </td>
                {canEdit && (
                  <td className="row-actions">
                    <button className="btn btn-small" type="button" onClick={() => setDialog({ mode: "duplicate", from: workflow })}>
                      Duplicate
                    </button>
                    <button className="btn btn-small" type="button" onClick={() => togglePause(workflow)}>
                      {workflow.paused ? "Resume" : "Pause"}
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {dialog && (
        <NewWorkflowDialog
          from={dialog.mode === "duplicate" ? dialog.from : null}
          onClose={() => setDialog(null)}
          onDone={(message) => {
            setDialog(null);
            setNotice(message);
            list.reload();
          }}
        />
      )}
    </div>
  );
}

const STATUS_PILL = { paused: "pill pill-paused", "draft only": "pill", live: "pill pill-ok" } as const;

function WorkflowStatus({ workflow }: { workflow: WorkflowSummary }) {
  const status = workflowStatus(workflow);
  const title = status === "draft only" ? "Never published: no run can start until it is published" : undefined;
  return (
    <span className={STATUS_PILL[status]} title={title}>
      {status}
    </span>
  );
}

export function slugify(name: string): string {
  return name
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60);
}

function NewWorkflowDialog({
  from,
  onClose,
  onDone,
}: {
  from: WorkflowSummary | null;
  onClose: () => void;
  onDone: (message: string) => void;
}) {
  const navigate = useNavigate();
  const [name, setName] = useState(from ? `${from.name || from.key} (copy)` : "");
  const [key, setKey] = useState(from ? `${from.key}-copy` : "");
  const [keyTouched, setKeyTouched] = useState(Boolean(from));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const effectiveKey = keyTouched ? key : slugify(name);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (from) {
        await api.post(`/workflows/${seg(from.key)}/duplicate`, { key: effectiveKey, name: name || null });
        onDone(`${from.key} duplicated as ${effectiveKey}.`);
      } else {
        await api.post("/workflows", {
          key: effectiveKey,
          name: name || null,
          draft: { key: effectiveKey, name: name || effectiveKey, steps: [] },
        });
        navigate(`/workflows/${seg(effectiveKey)}`);
      }
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  }

  return (
    <Modal title={from ? `Duplicate ${from.name || from.key}` : "New workflow"} onClose={onClose}>
      <form onSubmit={submit} className="form">
        <label htmlFor="wf-name">Name</label>
        <input id="wf-name" value={name} onChange={(e) => setName(e.target.value)} autoFocus placeholder="Welcome series" />
        <label htmlFor="wf-key">Key</label>
        <input
          id="wf-key"
          className="mono"
          value={effectiveKey}
          onChange={(e) => {
            setKeyTouched(true);
            setKey(e.target.value);
          }}
          placeholder="welcome-series"
        />
        <p className="hint">The key names the workflow in the API and in events; it cannot change later.</p>
        {error && (
          <div className="alert alert-error" role="alert">
            {error}
          </div>
        )}
        <div className="form-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy || effectiveKey === ""}>
            {from ? "Duplicate" : "Create and open"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
