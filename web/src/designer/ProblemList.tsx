// The validation report: every problem in words, each a button to the step and field it is about.
import type { Problem } from "../api/types";

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
              <span className="problem-message">{problem.message}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
