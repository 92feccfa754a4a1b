"""What a batch of checkpoints reports: its steps and run endings in the process's metrics,
failed step attempts and failed runs in the log, and a trace span per step."""

from __future__ import annotations

import logging
from typing import Any

from flowpin.observability import metrics, tracing
from flowpin.runtime.decisions import HistoryEntry
from flowpin.types import RunStatus
from flowpin.worker.checkpoint_batch import Live
from flowpin.worker.claimed import ClaimedRun
from flowpin.worker.spans import trace_steps

log = logging.getLogger("flowpin.worker")


def report_batch(live: Live, terminal: Live) -> None:
    """The batch's steps and run endings, in the process's metrics (one increment per label
    set of the batch), and its failures and retries in the log."""
    metrics.count_steps(
        (entry.step_type, entry.status) for request, _ in live for entry in request.outcome.history
    )
    for request, _ in live:
        for entry in request.outcome.history:
            if entry.status in ("failed", "retrying"):
                _log_failure(request.run, entry)
    if tracing.tracer() is not None:
        for request, _ in live:
            trace_steps(request.run, request.outcome.state, request.outcome.history)
    if terminal:
        metrics.count_finished(
            (req.run.tenant_id, req.run.workflow_key, req.outcome.status.value)
            for req, _res in terminal
        )
        for req, _res in terminal:
            if req.outcome.status is RunStatus.FAILED:
                error = req.outcome.error or {}
                log.warning(
                    "run %s of %s failed: %s",
                    req.run.id,
                    req.run.workflow_key,
                    _reason(error),
                    extra=_fields(req.run, error.get("stepId"), error),
                )


def _log_failure(run: ClaimedRun, entry: HistoryEntry) -> None:
    """A failed step attempt: retried (with its reason) or not. Ids, category and message
    only - never the step's input or output."""
    error = entry.error or {}
    retrying = entry.status == "retrying"
    log.warning(
        "step %s of run %s (%s) attempt %d failed%s: %s",
        entry.step_id,
        run.id,
        run.workflow_key,
        entry.attempt,
        ", retrying" if retrying else "",
        _reason(error),
        extra={**_fields(run, entry.step_id, error), "attempt": entry.attempt},
    )


def _reason(error: dict[str, Any]) -> str:
    message = str(error.get("message") or "")
    if len(message) > 300:
        message = message[:300] + "…"
    category = error.get("category") or "Error"
    return f"{category}: {message}" if message else str(category)


def _fields(run: ClaimedRun, step_id: str | None, error: dict[str, Any]) -> dict[str, Any]:
    data = error.get("data")
    code = error.get("code") or (data.get("code") if isinstance(data, dict) else None)
    return {
        "run_id": run.id,
        "step_id": step_id,
        "workflow": run.workflow_key,
        "category": error.get("category"),
        "code": code if isinstance(code, str) else None,
    }
