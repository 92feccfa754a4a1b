// The validation report: every problem in words, each a button to the step and field it is about.
import type { Problem } from "../api/types";
import { humanize } from "./fields/ValueField";

/** The field a problem is about, in words ("Event name"), from its path. */
export function fieldOf(problem: Problem): string | null {
  const last = problem.path.split(/[.[\]]+/).filter((part) => part && !/^\d+$/.test(part)).pop();
  if (!last || ["steps", "config", "then", "else", "body", "try", "catch", "default", "cases", "branches"].includes(last)) return null;
  return humanize(last);
}

export function ProblemList({ problems, onOpen, onClose, title }: { problems: Problem[]; onOpen: (problem: Problem) => void; onClose: () => void; title: string }) {
  const errors = problems.filter((p) => p.severity === "error");
  return (
    <div className="problems" role="region" aria-label="Problems" data-testid="problems">
      <header>
        <strong>{title}</strong>
        <span className="muted">
          {errors.length} error{errors.length === 1 ? "" : "s"}
          {problems.length > errors.length ? `, ${problems.length - errors.length} warning${problems.length - errors.length === 1 ? "" : "s"}` : ""}
        </span>
        <button type="button" className="icon-button" aria-label="Close the problem list" onClick={onClose}>
          ×
        </button>
      </header>
      <ul>
        {problems.map((problem, index) => (
          <li key={index}>
            <button type="button" className={`problem problem-${problem.severity}`} onClick={() => onOpen(problem)}>
              <span className="problem-where mono">{problem.stepId ?? "workflow"}</span>
              <span className="problem-message">
                {fieldOf(problem) && <strong>{fieldOf(problem)}: </strong>}
                {problem.message}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
