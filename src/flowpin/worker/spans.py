"""The worker's OpenTelemetry spans (see ``flowpin.observability.tracing``): one per claim of
a run and one per step, children of the span that started the run (its state's ``tp``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowpin.observability import tracing
from flowpin.runtime.decisions import HistoryEntry


def trace_claim(run: Any, owner: str) -> None:
    """A span for the claim of ``run`` by worker ``owner`` (nothing when not tracing)."""
    if tracing.tracer() is None:
        return
    attributes = tracing.run_attributes(run.id, run.workflow_key, run.version_number)
    span = tracing.start_span(
        "claim run", run.state.get("tp"), {**attributes, "flowpin.worker": owner}
    )
    if span is not None:
        span.end()


def trace_steps(run: Any, state: dict[str, Any], history: Sequence[HistoryEntry]) -> None:
    """A span per history entry, from its start (or end) to its end."""
    traceparent = state.get("tp")
    for entry in history:
        error = entry.error or {}
        tracing.record_span(
            f"step {entry.step_id}",
            traceparent,
            {
                **tracing.run_attributes(
                    run.id, run.workflow_key, run.version_number, entry.step_id
                ),
                "flowpin.step_type": entry.step_type,
                "flowpin.attempt": entry.attempt,
                "flowpin.outcome": entry.status,
            },
            entry.started_at or entry.at,
            entry.at,
            error.get("category") if entry.status in ("failed", "retrying") else None,
        )
