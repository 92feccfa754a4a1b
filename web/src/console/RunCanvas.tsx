// The run drawn on the designer's canvas (read-only): the steps it went through are "taken"
// (with the edges between them), where it is now is "current", a failed step "failed"; the
// workflow's saved layout places the cards as in the designer.
import { useMemo } from "react";
import { seg, api } from "../api/client";
import { useLoad } from "../api/hooks";
import type { Definition, WorkflowDetail } from "../api/types";
import { Canvas, type Mark } from "../designer/Canvas";
import type { StepMark } from "./timeline";

const CANVAS_MARK: Record<StepMark, Mark | undefined> = {
  done: "taken",
  failed: "failed",
  current: "current",
  retrying: "current",
  skipped: undefined,
};

const ignore = () => undefined;

export function RunCanvas({
  workflow,
  definition,
  marks,
}: {
  workflow: string;
  definition: Definition;
  marks: Record<string, StepMark>;
}) {
  const focusId =
    Object.entries(marks).find(([, mark]) => mark === "current")?.[0] ??
    Object.entries(marks).find(([, mark]) => mark === "failed")?.[0] ??
    null;
  const detail = useLoad(() => api.get<WorkflowDetail>(`/workflows/${seg(workflow)}`), [workflow]);
  const canvasMarks = useMemo(() => {
    const found: Record<string, Mark> = {};
    for (const [step, mark] of Object.entries(marks)) {
      const shown = CANVAS_MARK[mark];
      if (shown) found[step] = shown;
    }
    return found;
  }, [marks]);
  if (detail.loading && !detail.data) return <p className="muted">Loading the layout…</p>;
  return (
    <div className="canvas-wrap run-canvas" data-testid="run-canvas">
      <Canvas
        doc={definition}
        layout={detail.data?.layout ?? {}}
        selectedId={null}
        onSelect={ignore}
        onMoved={ignore}
        counts={{}}
        problems={{}}
        marks={canvasMarks}
        editable={false}
        insertTarget={null}
        triggerSummary={definition.triggers?.length ? `${definition.triggers.length} trigger(s)` : "manual start"}
        onInsert={ignore}
        onAddInto={ignore}
        focusId={focusId}
      />
    </div>
  );
}
