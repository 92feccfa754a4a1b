// The designer: the draft (or a published version, read-only) on the canvas, the palette, the
// step or workflow panel; save, publish with the problem list, undo/redo; live count badges and
// the "runs in flight on older versions" banner; version history with a visual diff.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { ApiError, api, describeError, seg } from "../api/client";
import { useLoad } from "../api/hooks";
import { useSession } from "../api/session";
import { activeHere, stepsAt, type ActionInfo, type Definition, type NodeType, type Position, type Problem, type Step, type StepCounts, type VersionDetail, type VersionSummary, type WorkflowDetail } from "../api/types";
import { Modal } from "../app/Modal";
import { MoreMenu, type MoreItem } from "../app/MoreMenu";
import { useWidth } from "../app/useWidth";
import { plural } from "../app/format";
import { Canvas, type Mark } from "./Canvas";
import { Palette, PaletteRail, type PaletteChoice } from "./Palette";
import { ProblemList } from "./ProblemList";
import { SettingsPanel } from "./SettingsPanel";
import { StepPanel } from "./StepPanel";
import { TryPanel } from "./TryPanel";
import { VersionsPanel } from "./VersionsPanel";
import type { GraphEdge } from "./model/graph";
import { describeTriggers } from "./model/triggers";
import { findStep, insertStep, knownPaths, moveStep, nestedIds, newStep, removeStep, replaceStep, ROOT, shiftStep } from "./model/tree";
import { useHistory } from "./useHistory";

interface DraftView {
  key: string;
  revision: number;
  draft: Definition | null;
  problems: Problem[];
}

interface Conflict {
  currentRevision: number;
  draft: Definition;
}

type Side = "edit" | "history" | "try";

/** Below this toolbar width, "Try the draft" and "History" go into the "More" menu. */
const FULL_BAR = 1080;
/** Below this designer width, the palette starts folded to a rail (opened by its + button). */
const ROOMY = 1000;

const isTyping = (target: EventTarget | null) =>
  target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));

export function DesignerPage() {
  const { key = "" } = useParams();
  const { canEdit, canPublish } = useSession();
  const history = useHistory();
  const doc = history.doc;
  const [revision, setRevision] = useState(0);
  const [layout, setLayout] = useState<Record<string, Position> | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [insert, setInsert] = useState<GraphEdge | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [problemsTitle, setProblemsTitle] = useState<string | null>(null);
  const [view, setView] = useState<"draft" | number>("draft");
  const [versionDoc, setVersionDoc] = useState<Definition | null>(null);
  const [side, setSide] = useState<Side>("edit");
  const [marks, setMarks] = useState<Record<string, Mark>>({});
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<Step | null>(null);
  const [toast, setToast] = useState<{ text: string; tone: "ok" | "error" } | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [busy, setBusy] = useState<"save" | "publish" | null>(null);
  const mounted = useRef(performance.now());
  const [frame, width] = useWidth();
  const compact = width !== null && width < FULL_BAR;
  const narrow = width !== null && width < ROOMY;
  const [paletteOpen, setPaletteOpen] = useState(true);
  useEffect(() => setPaletteOpen(!narrow), [narrow]);

  const registry = useLoad(
    () => Promise.all([api.get<{ items: NodeType[] }>("/registry/nodes"), api.get<{ items: ActionInfo[] }>("/registry/actions")]),
    [],
  );
  const workflow = useLoad(() => api.get<WorkflowDetail>(`/workflows/${seg(key)}`), [key], 4000);
  const versions = useLoad(() => api.get<{ items: VersionSummary[] }>(`/workflows/${seg(key)}/versions`), [key]);
  const counts = useLoad(() => api.get<StepCounts>(`/workflows/${seg(key)}/counts`), [key], 3000);
  const nodes = registry.data?.[0].items ?? [];
  const actions = registry.data?.[1].items ?? [];

  const loadDraft = useCallback(async () => {
    try {
      const draft = await api.get<DraftView>(`/workflows/${seg(key)}/draft`);
      history.load(draft.draft ?? { key, name: key, steps: [] });
      setRevision(draft.revision);
      setProblems(draft.problems);
      setLoadError(null);
    } catch (error) {
      setLoadError(error);
    }
  }, [key, history.load]);

  useEffect(() => {
    void loadDraft();
  }, [loadDraft]);

  useEffect(() => {
    if (layout === null && workflow.data) setLayout(workflow.data.layout ?? {});
  }, [workflow.data, layout]);

  // live validation of the edited draft
  useEffect(() => {
    if (!doc || !history.dirty) return;
    const timer = window.setTimeout(() => {
      api
        .post<{ problems: Problem[] }>(`/workflows/${seg(key)}/validate`, { definition: doc })
        .then((result) => setProblems(result.problems))
        .catch(() => undefined);
    }, 600);
    return () => window.clearTimeout(timer);
  }, [doc, history.dirty, key]);

  useEffect(() => {
    if (!toast) return;
    const timer = window.setTimeout(() => setToast(null), 5000);
    return () => window.clearTimeout(timer);
  }, [toast]);

  const editable = canEdit && view === "draft";
  const shown = view === "draft" ? doc : versionDoc;
  const paths = useMemo(() => (shown ? knownPaths(shown) : []), [shown]);
  const latest = workflow.data?.latestVersion ?? null;
  const countsVersion = view === "draft" ? latest : view;
  const stepCounts = useMemo(() => stepsAt(counts.data, countsVersion), [counts.data, countsVersion]);
  const problemsByStep = useMemo(() => {
    const found: Record<string, number> = {};
    for (const problem of view === "draft" ? problems : []) {
      if (problem.stepId && problem.severity === "error") found[problem.stepId] = (found[problem.stepId] ?? 0) + 1;
    }
    return found;
  }, [problems, view]);
  const errorCount = problems.filter((p) => p.severity === "error").length;

  const change = useCallback((next: Definition) => history.change(next), [history.change]);

  const describeTarget = (edge: GraphEdge | null) => {
    if (!edge?.insert) return null;
    if (edge.insert.slot.parent && edge.label) return `in “${edge.label}” of ${edge.insert.slot.parent}`;
    return `at position ${edge.insert.index + 1}${edge.insert.slot.parent ? ` of ${edge.insert.slot.parent}` : ""}`;
  };

  const pick = (choice: PaletteChoice) => {
    if (!doc || !editable) return;
    const step = newStep(doc, choice.type, { actionId: choice.actionId, version: choice.version });
    let slot = ROOT;
    let index = doc.steps.length;
    if (insert?.insert) {
      slot = insert.insert.slot;
      index = insert.insert.index;
    } else if (selected) {
      const at = findStep(doc, selected);
      if (at) {
        slot = at.slot;
        index = at.index + 1;
      }
    }
    change(insertStep(doc, slot, index, step));
    setInsert(null);
    if (narrow) setPaletteOpen(false); // the room goes back to the canvas
    setSelected(step.id);
    setSide("edit");
  };

  const remove = (step: Step, confirmed = false) => {
    if (!doc) return;
    if (!confirmed && nestedIds(step).length > 1) {
      setConfirmDelete(step);
      return;
    }
    change(removeStep(doc, step.id));
    setSelected(null);
    setConfirmDelete(null);
    setToast({ text: `Deleted ${step.name || step.id}. Undo with Ctrl+Z.`, tone: "ok" });
  };

  /** The new revision, or null when not saved. */
  const save = useCallback(async (): Promise<number | null> => {
    if (!doc) return null;
    setBusy("save");
    try {
      const result = await api.put<{ revision: number; problems: Problem[] }>(`/workflows/${seg(key)}/draft`, { draft: doc, expectedRevision: revision });
      setRevision(result.revision);
      setProblems(result.problems);
      history.markSaved();
      setToast({ text: "Draft saved. Runs are not affected until you publish.", tone: "ok" });
      return result.revision;
    } catch (error) {
      if (error instanceof ApiError && error.code === "draft.conflict") {
        const details = error.details as { currentRevision: number; draft: Definition };
        setConflict({ currentRevision: details.currentRevision, draft: details.draft });
      } else {
        setToast({ text: `The draft was not saved: ${describeError(error)}`, tone: "error" });
      }
      return null;
    } finally {
      setBusy(null);
    }
  }, [doc, key, revision, history.markSaved]);

  const publish = async () => {
    let base = revision;
    if (history.dirty) {
      const saved = await save();
      if (saved === null) return;
      base = saved;
    }
    setBusy("publish");
    try {
      const result = await api.post<{ version: number; created: boolean }>(`/workflows/${seg(key)}/publish`, {}, { headers: { "If-Match": `"${base}"` } });
      setProblemsTitle(null);
      setToast({
        text: result.created ? `Published version ${result.version}. New runs use it; runs in flight stay on their version.` : `Nothing changed since version ${result.version}.`,
        tone: "ok",
      });
      workflow.reload();
      versions.reload();
      counts.reload();
    } catch (error) {
      if (error instanceof ApiError && error.code === "definition.invalid" && Array.isArray(error.details)) {
        setProblems(error.details as Problem[]);
        setProblemsTitle("Fix these before publishing");
      } else if (error instanceof ApiError && error.code === "draft.conflict") {
        const details = error.details as { currentRevision: number; draft: Definition };
        setConflict({ currentRevision: details.currentRevision, draft: details.draft });
      } else {
        setToast({ text: `Not published: ${describeError(error)}`, tone: "error" });
      }
    } finally {
      setBusy(null);
    }
  };

  const openProblem = (problem: Problem) => {
    setView("draft");
    setSide("edit");
    setSelected(problem.stepId && doc && findStep(doc, problem.stepId) ? problem.stepId : null);
    const segments = problem.path.split(/[.[\]]+/).filter(Boolean);
    window.setTimeout(() => {
      const panel = document.querySelector(".panel");
      let field: Element | null = null;
      // the field at the problem's path, or its nearest enclosing part (triggers[1].cron, triggers[1])
      for (let end = problem.path.length; !field && end > 0; end = Math.max(problem.path.lastIndexOf(".", end - 1), problem.path.lastIndexOf("[", end - 1))) {
        field = panel?.querySelector(`[data-path="${CSS.escape(problem.path.slice(0, end))}"]`) ?? null;
      }
      for (const name of field ? [] : [...segments].reverse()) {
        field = panel?.querySelector(`[data-field="${CSS.escape(name)}"]`) ?? null;
        if (field) break;
      }
      if (field) {
        field.scrollIntoView({ block: "center" });
        field.classList.add("flash");
        window.setTimeout(() => field?.classList.remove("flash"), 1600);
        (field.querySelector("input, select, textarea, [contenteditable]") as HTMLElement | null)?.focus();
      }
    }, 80);
  };

  const moved = (id: string, position: Position) => {
    const next = { ...(layout ?? {}), [id]: position };
    setLayout(next);
    api.put(`/workflows/${seg(key)}/layout`, { layout: next }).catch((error) => setToast({ text: `The position was not saved: ${describeError(error)}`, tone: "error" }));
  };

  const dropOnEdge = (id: string, edge: GraphEdge) => {
    if (!doc || !edge.insert) return;
    const next = moveStep(doc, id, edge.insert.slot, edge.insert.index);
    if (next === doc) {
      setToast({ text: "A block cannot move into itself.", tone: "error" });
      return;
    }
    change(next);
    setSelected(id);
    if (layout && id in layout) {
      // a moved step takes its place in the pipeline again
      const { [id]: _dropped, ...rest } = layout;
      setLayout(rest);
      api.put(`/workflows/${seg(key)}/layout`, { layout: rest }).catch(() => undefined);
    }
    setToast({ text: `Moved ${id} ${describeTarget(edge) ?? ""}. Undo with Ctrl+Z.`, tone: "ok" });
  };

  const showVersion = async (number: number | "draft") => {
    setMarks({});
    setSelected(null);
    if (number === "draft") {
      setView("draft");
      return;
    }
    const found = await api.get<VersionDetail>(`/workflows/${seg(key)}/versions/${number}`);
    setVersionDoc(found.definition);
    setView(number);
  };

  // keyboard: undo/redo, save, delete, move
  const keyState = useRef({ selected, doc, editable, save, remove });
  keyState.current = { selected, doc, editable, save, remove };
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const { selected: current, doc: document_, editable: canChange, save: doSave, remove: doRemove } = keyState.current;
      const mod = event.ctrlKey || event.metaKey;
      if (mod && event.key.toLowerCase() === "s") {
        event.preventDefault();
        if (canChange) void doSave();
        return;
      }
      if (isTyping(event.target) || !canChange) return;
      if (mod && event.key.toLowerCase() === "z") {
        event.preventDefault();
        if (event.shiftKey) history.redo();
        else history.undo();
      } else if (mod && event.key.toLowerCase() === "y") {
        event.preventDefault();
        history.redo();
      } else if ((event.key === "Delete" || event.key === "Backspace") && current && document_) {
        const step = findStep(document_, current)?.step;
        if (step) doRemove(step);
      } else if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown") && current && document_) {
        event.preventDefault();
        history.change(shiftStep(document_, current, event.key === "ArrowUp" ? -1 : 1));
      } else if (event.key === "Escape") {
        setInsert(null);
        setSelected(null);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [history.undo, history.redo, history.change]);

  useEffect(() => {
    const warn = (event: BeforeUnloadEvent) => {
      if (history.dirty) event.preventDefault();
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [history.dirty]);

  if (loadError) {
    return (
      <div className="page">
        <div className="alert alert-error" role="alert">
          {loadError instanceof ApiError && loadError.status === 404 ? `There is no workflow “${key}”.` : `This workflow could not be opened: ${describeError(loadError)}`}
        </div>
        <Link to="/workflows">Back to workflows</Link>
      </div>
    );
  }
  if (!doc || !shown || layout === null) return <div className="boot">Opening {key}…</div>;

  const selectedStep = selected && shown ? findStep(shown, selected)?.step : undefined;
  const older = counts.data?.activeOnOlderVersions ?? workflow.data?.runsOnOlderVersions ?? 0;
  const triggerSummary = describeTriggers(shown.triggers);
  const toggleTry = () => setSide(side === "try" ? "edit" : "try");
  const toggleHistory = () => setSide(side === "history" ? "edit" : "history");
  const moreItems: MoreItem[] = [
    ...(canEdit ? [{ name: "▶ Try the draft", label: "▶ Try the draft", onSelect: toggleTry, disabled: view !== "draft", on: side === "try" }] : []),
    { name: "History", label: "History", onSelect: toggleHistory, on: side === "history" },
  ];

  return (
    <div className={`designer ${compact ? "is-compact" : ""}`} ref={frame}>
      <header className="designer-bar">
        <div className="designer-title">
          <Link to="/workflows" className="crumb">
            Workflows
          </Link>
          <span className="crumb-sep">/</span>
          <h1 title={doc.name || key}>{doc.name || key}</h1>
          {view === "draft" ? (
            <span className={`pill ${history.dirty ? "pill-warn" : ""}`} data-testid="draft-state">
              {history.dirty ? "unsaved changes" : `draft · rev ${revision}`}
            </span>
          ) : (
            <span className="pill pill-live">viewing v{view} (read-only)</span>
          )}
          {latest !== null && <span className="pill pill-ok">live: v{latest}</span>}
        </div>
        <div className="actions">
          {view !== "draft" && (
            <button type="button" className="btn btn-small" onClick={() => showVersion("draft")}>
              Back to the draft
            </button>
          )}
          {editable && (
            <>
              <button type="button" className="btn btn-small btn-ghost btn-icon" onClick={history.undo} disabled={!history.canUndo} aria-label="Undo" title="Undo (Ctrl+Z)">
                ↶
              </button>
              <button type="button" className="btn btn-small btn-ghost btn-icon" onClick={history.redo} disabled={!history.canRedo} aria-label="Redo" title="Redo (Ctrl+Shift+Z)">
                ↷
              </button>
            </>
          )}
          {compact ? (
            <MoreMenu items={moreItems} />
          ) : (
            <>
              {canEdit && (
                <button type="button" className={`btn btn-small ${side === "try" ? "is-on" : ""}`} onClick={toggleTry} disabled={view !== "draft"}>
                  ▶ Try the draft
                </button>
              )}
              <button type="button" className={`btn btn-small ${side === "history" ? "is-on" : ""}`} onClick={toggleHistory}>
                History
              </button>
            </>
          )}
          <button
            type="button"
            className={`btn btn-small ${errorCount ? "btn-warn" : ""}`}
            onClick={() => setProblemsTitle(problemsTitle ? null : "Problems in the draft")}
            data-testid="problems-button"
            disabled={view !== "draft"}
          >
            {errorCount ? `${plural(errorCount, "problem")}` : "No problems"}
          </button>
          {editable && (
            <button type="button" className="btn btn-small" onClick={() => void save()} disabled={busy !== null || !history.dirty}>
              {busy === "save" ? "Saving…" : "Save draft"}
            </button>
          )}
          {canPublish && view === "draft" && (
            <button type="button" className="btn btn-small btn-primary" onClick={() => void publish()} disabled={busy !== null}>
              {busy === "publish" ? "Publishing…" : "Publish"}
            </button>
          )}
        </div>
      </header>
      {older > 0 && (
        <div className="banner" role="status" data-testid="banner">
          <strong>{plural(older, "run")} in flight on older versions</strong> — changes affect new runs only.
          {canPublish && (
            <Link to={`/workflows/${seg(key)}/migrate`} className="banner-link">
              Move them to a newer version…
            </Link>
          )}
        </div>
      )}
      {!canEdit && <div className="readonly-note">You are signed in as a viewer: you can look at everything but change nothing.</div>}
      <div className={`designer-body ${editable ? (paletteOpen ? "" : "palette-folded") : "no-palette"}`}>
        {editable &&
          (paletteOpen ? (
            <Palette nodes={nodes} actions={actions} target={describeTarget(insert)} onPick={pick} onCancel={() => setInsert(null)} onHide={narrow ? () => setPaletteOpen(false) : undefined} />
          ) : (
            <PaletteRail onOpen={() => setPaletteOpen(true)} />
          ))}
        <div className="canvas-wrap" data-testid="canvas">
          <Canvas
            key={view === "draft" ? "draft" : `v${view}`}
            doc={shown}
            layout={layout}
            counts={stepCounts}
            problems={problemsByStep}
            marks={marks}
            editable={editable}
            insertTarget={insert?.id ?? null}
            triggerSummary={triggerSummary}
            selectedId={selected}
            onSelect={(id) => {
              setSelected(id);
              if (id) setSide("edit");
            }}
            onInsert={(edge) => {
              setInsert(edge);
              setSelected(null);
              setPaletteOpen(true);
            }}
            onAddInto={(placeholder) => {
              setInsert({ id: placeholder.id, source: placeholder.id, target: placeholder.id, label: placeholder.label, insert: { slot: placeholder.slot!, index: 0 } });
              setSelected(null);
              setPaletteOpen(true);
            }}
            onMoved={moved}
            onDropOnEdge={editable ? dropOnEdge : undefined}
            onReady={() => {
              performance.mark("flowpin:designer-ready");
              (window as unknown as { __flowpinDesignerReadyMs?: number }).__flowpinDesignerReadyMs = performance.now() - mounted.current;
            }}
          />
          {countsVersion !== null && Object.keys(stepCounts).length > 0 && (
            <div className="canvas-legend" aria-label="Badge legend" title={`Badges: active runs of v${countsVersion} at each step, refreshed every few seconds`}>
              {compact ? `Badges: runs of v${countsVersion} here now` : `Badges: active runs of v${countsVersion} at each step, refreshed every few seconds`}
            </div>
          )}
          {problemsTitle && <ProblemList title={problemsTitle} problems={problems} onOpen={openProblem} onClose={() => setProblemsTitle(null)} />}
          {toast && (
            <div className={`toast toast-${toast.tone}`} role={toast.tone === "error" ? "alert" : "status"}>
              {toast.text}
            </div>
          )}
        </div>
        {side === "history" ? (
          <VersionsPanel
            workflowKey={key}
            versions={versions.data?.items ?? []}
            view={view}
            draft={doc}
            counts={counts.data}
            onShow={showVersion}
            onMarks={setMarks}
            onClose={() => {
              setMarks({});
              setSide("edit");
            }}
          />
        ) : side === "try" ? (
          <TryPanel
            workflowKey={key}
            doc={doc}
            actions={actions}
            onTrace={setMarks}
            onClose={() => {
              setMarks({});
              setSide("edit");
            }}
          />
        ) : selectedStep ? (
          <StepPanel
            key={selectedStep.id}
            step={selectedStep}
            workflowKey={key}
            runsHere={Object.keys(counts.data?.byVersion ?? {})
              .map(Number)
              .map((version) => ({ version, count: activeHere(stepsAt(counts.data, version)[selectedStep.id]), latest: version === latest }))
              .filter((here) => here.count > 0)}
            nodes={nodes}
            actions={actions}
            problems={problems.filter((p) => p.stepId === selectedStep.id)}
            readOnly={!editable}
            paths={paths}
            onChange={(step) => change(replaceStep(doc, selectedStep.id, step))}
            onDelete={() => remove(selectedStep)}
            onShift={(delta) => change(shiftStep(doc, selectedStep.id, delta))}
            onClose={() => setSelected(null)}
          />
        ) : (
          <SettingsPanel doc={shown} readOnly={!editable} paths={paths} onChange={change} />
        )}
      </div>
      {confirmDelete && (
        <Modal title={`Delete ${confirmDelete.name || confirmDelete.id}?`} onClose={() => setConfirmDelete(null)}>
          <p>These steps go with it:</p>
          <ul className="plain-list mono">
            {nestedIds(confirmDelete).map((id) => (
              <li key={id}>{id}</li>
            ))}
          </ul>
          <div className="form-actions">
            <button type="button" className="btn" onClick={() => setConfirmDelete(null)}>
              Keep them
            </button>
            <button type="button" className="btn btn-danger" onClick={() => remove(confirmDelete, true)} autoFocus>
              Delete {plural(nestedIds(confirmDelete).length, "step")}
            </button>
          </div>
        </Modal>
      )}
      {conflict && (
        <Modal title="Someone else saved this draft" onClose={() => setConflict(null)}>
          <p>
            The draft is at revision {conflict.currentRevision} now; your changes were based on revision {revision}. Nothing of yours was saved.
          </p>
          <div className="form-actions">
            <button
              type="button"
              className="btn"
              onClick={() => {
                history.load(conflict.draft);
                setRevision(conflict.currentRevision);
                setConflict(null);
                setToast({ text: `Loaded revision ${conflict.currentRevision}; your changes were discarded.`, tone: "ok" });
              }}
            >
              Load their version
            </button>
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => {
                setRevision(conflict.currentRevision);
                setConflict(null);
                setToast({ text: "Your version is kept; Save again to replace theirs.", tone: "ok" });
              }}
            >
              Keep mine
            </button>
          </div>
        </Modal>
      )}
    </div>
  );
}
