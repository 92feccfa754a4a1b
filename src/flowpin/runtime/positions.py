"""Where a run stands, as the per-step counts and the version diff need it: the set of
``(step id, kind)`` of its leaves, from its state alone.

``kind`` is ``running`` (a step about to start or an action call in flight), one of the wait
kinds ``event``, ``timer``, ``task``, ``child``, ``retry`` (a backoff before the next
attempt), or ``failed`` (the step a FAILED run failed at). A run has several positions when
parallel branches or loop iterations are active; the same ``(step, kind)`` twice (five
iterations waiting at one step) counts once: counts are of runs, not of iterations.

The worker stores ``encode(state)`` on the run's row in the same statement that stores the
state (``runs.positions``), so the counts are as current as the runs themselves.
"""

from __future__ import annotations

from typing import Any

import orjson

from flowpin.runtime.state import leaf_frames
from flowpin.types import RunStatus

KINDS = ("running", "event", "timer", "task", "child", "retry", "failed")
WAIT_KINDS = ("event", "timer", "task", "child", "retry")
_BY_LEAF_STATUS = {kind: kind for kind in WAIT_KINDS}


def positions(state: dict[str, Any]) -> list[tuple[str, str]]:
    """Sorted, distinct ``(step id, kind)`` of the run's leaves; empty once it succeeded."""
    status = state.get("status")
    if status == RunStatus.FAILED:
        failed = state.get("failed") or {}
        step = failed.get("stepId") if isinstance(failed, dict) else None
        if step is None:
            error = (state.get("envelope") or {}).get("error") or {}
            step = error.get("stepId") if isinstance(error, dict) else None
        return [(step, "failed")] if isinstance(step, str) else []
    root = state.get("root")
    if status == RunStatus.SUCCEEDED or root is None:
        return []
    if "c" not in root and "it" not in root and "br" not in root:  # one leaf: most runs
        step = root.get("s")
        return [] if step is None else [(step, _BY_LEAF_STATUS.get(root.get("st", ""), "running"))]
    found = {
        (frame["s"], _BY_LEAF_STATUS.get(frame.get("st", ""), "running"))
        for frame in leaf_frames(root)
        if frame.get("s") is not None
    }
    return sorted(found)


def encode(state: dict[str, Any]) -> str:
    """``positions(state)`` as compact JSON text (``[["wait","event"]]``): one value per
    distinct situation, so counting groups runs by it in SQL and splits the few groups here."""
    return orjson.dumps(positions(state)).decode()


def decode(text: str | None) -> list[tuple[str, str]]:
    if not text:
        return []
    return [(step, kind) for step, kind in orjson.loads(text)]
