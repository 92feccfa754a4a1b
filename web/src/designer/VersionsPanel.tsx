// Version history and a visual diff of any two versions (or a version and the draft): changed
// steps are highlighted on the canvas and listed with what changed, the server's classification
// and how many active runs of the older version are at each.
import { useState } from "react";
import { api, describeError, seg } from "../api/client";
import { activeAt, type Definition, type StepCounts, type VersionDetail, type VersionDiff, type VersionSummary } from "../api/types";
import { dateTime, relativeTime } from "../app/format";
import type { Mark } from "./Canvas";
import { diffDefinitions } from "./model/diff";
import { describeValue, typeInfo } from "./steps";

type Side = number | "draft";

interface Shown {
  stepId: string;
  change: string;
  type: string;
  classification?: string;
  runsAt?: number;
  fields?: string[];
}

const CLASSIFICATION: Record<string, string> = {
  safe: "safe for runs in flight",
  "affects-in-flight": "affects runs in flight",
  "needs-mapping": "runs here need a mapping to move",
};

export function VersionsPanel({
  workflowKey,
  versions,
  view,
  draft,
  counts,
  onShow,
  onMarks,
  onClose,
}: {
  workflowKey: string;
  versions: VersionSummary[];
  view: Side;
  draft: Definition;
  counts: StepCounts | null;
  onShow: (version: Side) => Promise<void>;
  onMarks: (marks: Record<string, Mark>) => void;
  onClose: () => void;
}) {
  const newest = [...versions].sort((a, b) => b.version - a.version);
  const [from, setFrom] = useState<Side>(newest[1]?.version ?? newest[0]?.version ?? "draft");
  const [to, setTo] = useState<Side>(newest[1] ? newest[0]!.version : "draft");
  const [changes, setChanges] = useState<Shown[] | null>(null);
  const [summary, setSummary] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const definitionOf = async (side: Side): Promise<Definition> =>
    side === "draft" ? draft : (await api.get<VersionDetail>(`/workflows/${seg(workflowKey)}/versions/${side}`)).definition;

  const compare = async () => {
    setError(null);
    try {
      let shown: Shown[];
      if (from !== "draft") {
        const diff = await api.get<VersionDiff>(`/workflows/${seg(workflowKey)}/diff?from=${from}&to=${to}`);
        shown = diff.changes.map((c) => ({
          stepId: c.stepId,
          change: c.change === "typeChanged" ? "changed" : c.change,
          type: c.type,
          classification: c.classification,
          runsAt: c.runs?.at,
          fields: c.fields?.map((f) => `${f.path}: ${describeValue(f.from)} → ${describeValue(f.to)}`),
        }));
        setSummary(diff.activeRuns ? `${diff.activeRuns} active run${diff.activeRuns === 1 ? "" : "s"} on v${from}` : `no active runs on v${from}`);
      } else {
        const [before, after] = await Promise.all([definitionOf(from), definitionOf(to)]);
        shown = diffDefinitions(before, after);
        setSummary(null);
      }
      setChanges(shown);
      await onShow(to);
      onMarks(Object.fromEntries(shown.filter((c) => c.change !== "removed").map((c) => [c.stepId, c.change as Mark])));
    } catch (failure) {
      setError(describeError(failure));
    }
  };

  const options = (
    <>
      {newest.map((v) => (
        <option key={v.version} value={v.version}>
          v{v.version}
        </option>
      ))}
      <option value="draft">draft</option>
    </>
  );
  const parse = (value: string): Side => (value === "draft" ? "draft" : Number(value));

  return (
    <aside className="panel" aria-label="Version history" data-testid="versions-panel">
      <header className="panel-header">
        <div className="panel-title">
          <div className="muted small">History</div>
          <h2>Versions</h2>
        </div>
        <button type="button" className="icon-button" aria-label="Close the history" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="panel-body">
        {newest.length === 0 ? (
          <p className="hint">Nothing is published yet. Publish the draft to create version 1; runs start on the latest version.</p>
        ) : (
          <ul className="version-list">
            {newest.map((v) => {
              const active = activeAt(counts, v.version);
              return (
                <li key={v.version} className={view === v.version ? "is-current" : ""}>
                  <div>
                    <strong>v{v.version}</strong> {v.version === newest[0]?.version && <span className="pill pill-ok">latest</span>}
                    <div className="muted small">
                      published <span title={dateTime(v.publishedAt)}>{relativeTime(v.publishedAt)}</span> · {active} active run{active === 1 ? "" : "s"}
                    </div>
                  </div>
                  <button type="button" className="btn btn-small" onClick={() => void onShow(v.version)} disabled={view === v.version}>
                    Show
                  </button>
                </li>
              );
            })}
          </ul>
        )}
        <section className="panel-section">
          <h3>Compare</h3>
          <div className="compare-row">
            <select aria-label="Compare from" value={String(from)} onChange={(e) => setFrom(parse(e.target.value))}>
              {options}
            </select>
            <span>→</span>
            <select aria-label="Compare to" value={String(to)} onChange={(e) => setTo(parse(e.target.value))}>
              {options}
            </select>
            <button type="button" className="btn btn-small btn-primary" onClick={() => void compare()} disabled={from === to}>
              Compare
            </button>
          </div>
          {error && <div className="alert alert-error">{error}</div>}
          {changes && (
            <div data-testid="diff-result">
              {summary && <p className="hint">{summary}</p>}
              {changes.length === 0 ? (
                <p className="hint">The two are the same, step for step.</p>
              ) : (
                <ul className="change-list">
                  {changes.map((change) => (
                    <li key={change.stepId} className={`change change-${change.change}`}>
                      <div className="change-head">
                        <span className={`mark-tag mark-tag-${change.change}`}>{change.change}</span>
                        <span className="change-name">
                          {change.stepId} <span className="muted small">{typeInfo(change.type).label}</span>
                        </span>
                        {change.runsAt ? <span className="pill pill-live">{change.runsAt} at this step</span> : null}
                      </div>
                      {change.classification && <div className={`small classification-${change.classification}`}>{CLASSIFICATION[change.classification] ?? change.classification}</div>}
                      {change.fields?.map((field) => (
                        <div key={field} className="mono small muted change-field">
                          {field}
                        </div>
                      ))}
                    </li>
                  ))}
                </ul>
              )}
              <p className="hint">Highlighted on the canvas: {to === "draft" ? "the draft" : `v${to}`}. Removed steps are only listed.</p>
            </div>
          )}
        </section>
      </div>
    </aside>
  );
}
