// The run drawn over its version's definition: every step in pipeline order, nested blocks
// for branches, loops and try/catch; the path the run took is green (red where it failed),
// where it is now is marked, steps it has not reached stay grey.
import type { Step } from "../api/types";
import { nestedBlocks, type StepMark } from "./timeline";

const MARK_TEXT: Record<StepMark, string> = {
  done: "done",
  failed: "failed",
  current: "now here",
  skipped: "skipped",
  retrying: "retrying",
};

function reached(step: Step, marks: Record<string, StepMark>): boolean {
  if (marks[step.id]) return true;
  return nestedBlocks(step).some((block) => block.steps.some((s) => reached(s, marks)));
}

function Pipeline({ steps, marks }: { steps: Step[]; marks: Record<string, StepMark> }) {
  return (
    <ol className="map-pipeline">
      {steps.map((step) => {
        const mark = marks[step.id] ?? (reached(step, marks) ? "done" : undefined);
        const blocks = nestedBlocks(step);
        return (
          <li key={step.id} className={`map-step ${mark ? `map-${mark}` : "map-unreached"}`} data-step={step.id}>
            <div className="map-node" title={step.type}>
              <span className="map-id">{step.name || step.id}</span>
              <span className="map-type">{step.type.replace("control.", "")}</span>
              {mark && <span className="map-mark">{MARK_TEXT[mark]}</span>}
            </div>
            {blocks.length > 0 && (
              <div className="map-blocks">
                {blocks.map((block) => (
                  <div key={block.label} className="map-block">
                    <div className="map-block-label">{block.label}</div>
                    <Pipeline steps={block.steps} marks={marks} />
                  </div>
                ))}
              </div>
            )}
          </li>
        );
      })}
    </ol>
  );
}

export function RunMap({ steps, marks }: { steps: Step[]; marks: Record<string, StepMark> }) {
  return (
    <div className="run-map" aria-label="The run's path through its workflow">
      <Pipeline steps={steps} marks={marks} />
    </div>
  );
}
