"""Definition builders shared by the tests: workflow dicts and their steps, in the shape a user
publishes (SPEC §2). Each returns a plain dict, so a test can still add or change a field."""

from __future__ import annotations

from typing import Any

HOUR_MS = 3_600_000


def workflow(key: str, *steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A workflow definition: ``key``, ``steps`` in order, and any top-level field (``output``,
    ``triggers``, ``settings`` …) from ``extra``."""
    return {"key": key, "steps": list(steps), **extra}


def expr(source: str) -> dict[str, str]:
    return {"$expr": source}


def assign(step_id: str, **paths: Any) -> dict[str, Any]:
    """A ``transform.assign`` step; ``paths`` maps full paths to values
    (``assign("s", **{"vars.x": 1})``)."""
    return {"id": step_id, "type": "transform.assign", "config": {"assign": dict(paths)}}


def event_wait(step_id: str, event: str = "go", **config: Any) -> dict[str, Any]:
    """An ``event.wait`` step for ``event``; ``config`` adds ``timeoutMs``, ``onTimeout``,
    ``saveAs``, ``key`` …"""
    return {"id": step_id, "type": "event.wait", "config": {"eventName": event, **config}}


def time_wait(step_id: str, duration_ms: int) -> dict[str, Any]:
    """A ``time.wait`` step (a timer) of ``duration_ms``."""
    return {"id": step_id, "type": "time.wait", "config": {"durationMs": duration_ms}}


def human_task(step_id: str, title: str = "ok?", **config: Any) -> dict[str, Any]:
    """A ``human.task`` step with an open form; ``config`` adds ``timeoutMs`` …"""
    return {
        "id": step_id,
        "type": "human.task",
        "config": {"title": title, "formSchema": {"type": "object"}, **config},
    }


def returns(step_id: str, output: Any) -> dict[str, Any]:
    """A ``control.return`` step: the run succeeds with ``output`` (a value or ``expr(…)``)."""
    return {"id": step_id, "type": "control.return", "output": output}


def state_set(step_id: str, state: str) -> dict[str, Any]:
    return {"id": step_id, "type": "state.set", "config": {"state": state}}


def action_call(
    step_id: str, action_id: str, version: int = 1, save_as: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An ``action.call`` step; ``extra`` keys go to ``config`` (``inputMapping``,
    ``idempotencyKey`` …) unless they are step-level (``retry``, ``onError``, ``timeoutMs``,
    ``name``)."""
    config: dict[str, Any] = {"actionId": action_id, "version": version}
    step: dict[str, Any] = {"id": step_id, "type": "action.call", "config": config}
    if save_as is not None:
        config["saveAs"] = save_as
    for name, value in extra.items():
        (step if name in ("retry", "onError", "timeoutMs", "name") else config)[name] = value
    return step


def call_workflow(step_id: str, workflow_key: str, **fields: Any) -> dict[str, Any]:
    """A ``control.callWorkflow`` step starting a child run of ``workflow_key``; ``fields``
    adds ``version``, ``inputMapping``, ``saveAs`` …"""
    return {"id": step_id, "type": "control.callWorkflow", "workflowKey": workflow_key, **fields}
