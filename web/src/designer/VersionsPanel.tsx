// Version history and a visual diff of any two versions (or a version and the draft): changed
// steps are highlighted on the canvas and listed with what kind of change each is and how many
// active runs are at it.
import { useState } from "react";
import { api, describeError, seg } from "../api/client";
import type { Definition, StepCounts, VersionDetail, VersionSummary } from "../api/types";
import { relativeTime } from "../app/format";
import type { Mark } from "./Canvas";
import { diffDefinitions, type StepChange } from "./model/diff";
import { typeInfo } from "./steps";

type Side = number | "draft";

interface ServerChange {
  stepId: string;
  change?: string;
  kind?: string;
  classification?: string;
  activeRuns?: number;
  [extra: string]: unknown;
}

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
  const [changes, setChanges] = useState<(StepChange & { note?: string; runs?: number })[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const activeAt = (version: number) =>
    Object.values(counts?.byVersion[String(version)] ?? {}).reduce((sum, c) => sum + (c.waiting ?? 0) + (c.running ?? 0) + (c.retrying ?? 0), 0);

  const definitionOf = async (side: Side): Promise<Definition> =>
    side === "draft" ? draft : (await api.get<VersionDetail>(`/workflows/${seg(workflowKey)}/versions/${side}`)).definition;

  const compare = async () => {
    setError(null);
    try {
      const [before, after] = await Promise.all([definitionOf(from), definitionOf(to)]);
      let found: (StepChange & { note?: string; runs?: number })[] = diffDefinitions(before, after);
      if (typeof from === "number" && typeof to === "number") {
        try {
          const server = await api.get<{ changes?: ServerChange[]; steps?: ServerChange[] }>(`/workflows/${seg(workflowKey)}/diff?from=${from}&to=${to}`);
          const items = server.changes ?? server.steps ?? [];
          const byId = new Map(items.map((item) => [item.stepId, item]));
          found = found.map((change) => {
            const extra = byId.get(change.stepId);
            return extra ? { ...change, note: String(extra.classification ?? extra.kind ?? ""), runs: typeof extra.activeRuns === "number" ? extra.activeRuns : undefined } : change;
          });
        } catch {
          // the server's diff (classification, active-run impact) is optional; the local one stands
        }
      }
      const byVersion = typeof from === "number" ? counts?.byVersion[String(from)] ?? {} : {};
      found = found.map((change) => {
        const at = byVersion[change.stepId];
        const here = at ? (at.waiting ?? 0) + (at.running ?? 0) + (at.retrying ?? 0) : 0;
        return change.runs === undefined && here ? { ...change, runs: here } : change;
      });
      setChanges(found);
      await onShow(to);
      onMarks(Object.fromEntries(found.filter((c) => c.change !== "removed").map((c) => [c.stepId, c.change as Mark])));
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
            {newest.map((v) => (
              <li key={v.version} className={view === v.version ? "is-current" : ""}>
                <div>
                  <strong>v{v.version}</strong> {v.version === newest[0]?.version && <span className="pill pill-ok">latest</span>}
                  <div className="muted small">
                    published {relativeTime(v.publishedAt)} · {activeAt(v.version)} active run{activeAt(v.version) === 1 ? "" : "s"}
                  </div>
                </div>
                <button type="button" className="btn btn-small" onClick={() => void onShow(v.version)} disabled={view === v.version}>
                  Show
                </button>
              </li>
            ))}
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
              {changes.length === 0 ? (
                <p className="hint">The two are the same, step for step.</p>
              ) : (
                <ul className="change-list">
                  {changes.map((change) => (
                    <li key={change.stepId} className={`change change-${change.change}`}>
                      <span className={`mark-tag mark-tag-${change.change}`}>{change.change}</span>
                      <span className="change-name">
                        {change.name || change.stepId} <span className="muted small">{typeInfo(change.type).label}</span>
                      </span>
                      {change.note && <span className="muted small">{change.note}</span>}
                      {change.runs ? <span className="pill pill-live">{change.runs} active here</span> : null}
                    </li>
                  ))}
                </ul>
              )}
              <p className="hint">Highlighted on the canvas: v{String(to)}. Removed steps are only listed.</p>
            </div>
          )}
        </section>
      </div>
    </aside>
  );
}
