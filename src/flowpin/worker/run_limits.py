"""Runaway work is bounded (SPEC §8): the limits a checkpoint enforces on a run, counted in the
run's own state so no query is needed - ``hs``, the history steps it recorded, and ``ch``, the
child runs it started (see docs/state-machines.md, "State keys the worker writes"). A run past a
limit ends FAILED with a ``LimitError``; the failure is the engine's, not a step's, so no
tryCatch can swallow it. (``limit.depth`` is checked where a child run is created,
``worker.commands``.)"""

from __future__ import annotations

from typing import Any

from flowpin.runtime.decisions import StartChild
from flowpin.types import RunStatus
from flowpin.worker.checkpoint_batch import CheckpointRequest, Live


def limit_steps(live: Live, limit: int) -> None:
    """Count each run's history steps in its state (``hs``: no query) and fail a run that
    goes past ``limit``: a loop that never ends must not grow its history for ever. The
    failure is the engine's, not a step's, so no tryCatch can swallow it."""
    for request, _result in live:
        outcome = request.outcome
        if not outcome.history:
            continue
        state = outcome.state
        count = int(state.get("hs", 0)) + len(outcome.history)
        state["hs"] = count
        if count <= limit or outcome.status in (RunStatus.FAILED, RunStatus.CANCELED):
            continue
        fail_run(
            request,
            {
                "category": "LimitError",
                "code": "limit.steps",
                "message": f"the run recorded {count} steps; the limit is {limit} per run",
                "stepId": outcome.history[-1].step_id,
                "data": {"limit": limit, "steps": count},
            },
        )


def limit_children(live: Live, limit: int) -> None:
    """Count the child runs each run starts (``ch`` in its state) and fail a run that would
    start more than ``limit``: a loop of ``control.callWorkflow`` must not fill the database.
    Like ``limit.steps``, the failure is the engine's, so no tryCatch can swallow it."""
    for request, _result in live:
        outcome = request.outcome
        started = sum(isinstance(c, StartChild) for c in outcome.commands)
        if not started:
            continue
        state = outcome.state
        count = int(state.get("ch", 0)) + started
        state["ch"] = count
        if count <= limit or outcome.status in (RunStatus.FAILED, RunStatus.CANCELED):
            continue
        step_id = next(c.step_id for c in reversed(outcome.commands) if isinstance(c, StartChild))
        fail_run(
            request,
            {
                "category": "LimitError",
                "code": "limit.children",
                "message": f"the run would start {count} child runs; the limit is {limit} per run",
                "stepId": step_id,
                "data": {"limit": limit, "children": count},
            },
        )


def fail_run(request: CheckpointRequest, error: dict[str, Any]) -> None:
    """End the run of ``request`` FAILED with ``error``, issuing none of its commands."""
    outcome = request.outcome
    state = outcome.state
    state["status"] = RunStatus.FAILED.value
    state.pop("output", None)
    state["envelope"] = {**state["envelope"], "error": error}
    outcome.status = RunStatus.FAILED
    outcome.error = error
    outcome.output = None
    outcome.commands = []
    outcome.current_steps = []
    request.new_calls = []
