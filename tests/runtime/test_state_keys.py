"""Every key of a run's state has a row in docs/state-machines.md ("Every key of the state"),
and every row names a key the code writes.

The keys are found two ways: by running the interpreter over workflows that use every step
type, a retry backoff, a caught error, a yield, a failure, an operator retry and a migration
(the keys the states hold, at every level); and by reading the syntax tree of src/flowpin for
writes the runs above cannot reach - ``state["key"] = …``, ``state.update(key=…)``,
``frame["key"] = …`` and the like (the worker's and the store's keys, transient marks)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flowpin
from flowpin.definitions.models import Definition
from flowpin.runtime.decisions import (
    ActionResult,
    CallAction,
    ChildFinished,
    CreateTask,
    Input,
    Outcome,
    RunInfo,
    StartChild,
    WaitForEvent,
    WaitResolved,
    WaitUntil,
)
from flowpin.runtime.interpreter import advance, retry_state, start_state
from flowpin.runtime.migrate import Migrator
from flowpin.types import RunStatus

SOURCE = Path(flowpin.__file__).parent
DOC = SOURCE.parents[1] / "docs" / "state-machines.md"
SECTION = "### Every key of the state"
TABLES = {"key": "state", "envelope key": "envelope", "frame key": "frame", "record key": "record"}
"""The header of each table's first column → the level of the state its keys are at."""

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN = RunInfo(run_id="run-1", workflow_key="wf", version=1, subject="s-1", started_at=T0)
Keys = set[tuple[str, str]]


def _documented() -> Keys:
    text = DOC.read_text()
    section = text[text.index(SECTION) + len(SECTION) :]
    section = section[: section.index("\n### ")] if "\n### " in section else section
    found: Keys = set()
    level = None
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            level = None
        elif cells[0] in TABLES:
            level = TABLES[cells[0]]
        elif level is not None and (name := re.fullmatch(r"`([A-Za-z0-9.]+)`", cells[0])):
            found.add((level, name.group(1)))
    return found


# --------------------------------------------------------------------------- keys the runs hold


def _keys_of(state: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key in state:
        yield "state", key
    envelope = state.get("envelope") or {}
    for key in envelope:
        yield "envelope", f"envelope.{key}"
    for key in envelope.get("meta") or {}:
        yield "envelope", f"envelope.meta.{key}"
    frames = [state["root"]] if state.get("root") is not None else []
    while frames:
        frame = frames.pop()
        for key in frame:
            yield "frame", key
        if "c" in frame:
            frames.append(frame["c"])
        for records in (frame.get("it"), frame.get("br")):
            for record in (records or {}).values():
                for key in record:
                    yield "record", key
                if "c" in record:
                    frames.append(record["c"])


def _action(step_id: str, **step: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "action.call",
        "config": {"actionId": "demo.act", "version": 1, "saveAs": f"vars.{step_id}"},
        **step,
    }


def _everything() -> Definition:
    """A workflow with every step type and every way a frame is shaped."""
    event_wait = {"id": "ev", "type": "event.wait", "config": {"eventName": "go"}}
    late = {
        "id": "late",
        "type": "event.wait",
        "config": {"eventName": "late", "timeoutMs": 1000, "onTimeout": "continue"},
    }
    task = {
        "id": "task",
        "type": "human.task",
        "config": {"title": "Approve", "formSchema": {"type": "object"}, "timeoutMs": 60000},
    }
    child = {"id": "child", "type": "control.callWorkflow", "workflowKey": "other", "wait": True}
    return Definition.model_validate(
        {
            "key": "wf",
            "steps": [
                {"id": "mark", "type": "state.set", "config": {"state": "STARTED"}},
                {"id": "set", "type": "transform.assign", "config": {"assign": {"vars.a": 1}}},
                _action("flaky", retry={"maxAttempts": 3, "backoffMs": 1000, "jitter": "none"}),
                _action("broken", onError="continue"),
                {
                    "id": "guard",
                    "type": "control.tryCatch",
                    "captureErrorAs": "vars.caught",
                    "try": [{"id": "boom", "type": "control.fail", "message": "no"}],
                    "catch": [_action("handle")],
                },
                {
                    "id": "pick",
                    "type": "control.switch",
                    "cases": [{"id": "one", "when": True, "steps": [_action("picked")]}],
                },
                {
                    "id": "check",
                    "type": "control.if",
                    "condition": True,
                    "then": [{"id": "nap", "type": "time.wait", "config": {"durationMs": 500}}],
                },
                {
                    "id": "loop",
                    "type": "control.forEach",
                    "items": [1, 2, 3],
                    "concurrency": 2,
                    "collect": {"$expr": "vars.item"},
                    "body": [_action("each")],
                },
                {
                    "id": "fan",
                    "type": "control.parallel",
                    "branches": [
                        {"id": "a", "steps": [event_wait]},
                        {"id": "b", "steps": [late]},
                        {"id": "c", "steps": [task]},
                        {"id": "d", "steps": [child]},
                        {"id": "e", "steps": []},
                    ],
                },
                {
                    "id": "tell",
                    "type": "event.emit",
                    "config": {"eventName": "done", "correlationKey": "k", "payload": {}},
                },
                {"id": "end", "type": "control.return", "output": {"$expr": "vars.a"}},
            ],
        }
    )


def _answer(command: Any, at: datetime) -> Input | None:
    if isinstance(command, CallAction):
        if command.step_id == "flaky" and command.attempt == 1:
            error = {"category": "TransientError", "message": "again"}
            return ActionResult(command.token, command.attempt, at, error=error)
        if command.step_id in ("broken", "x"):
            error = {"category": "ActionError", "message": "no"}
            return ActionResult(command.token, command.attempt, at, error=error)
        return ActionResult(command.token, command.attempt, at, output={"ok": True})
    if isinstance(command, WaitUntil):
        return WaitResolved(command.token, "timer", max(at, command.due_at))
    if isinstance(command, WaitForEvent):
        if command.due_at is not None:
            return WaitResolved(command.token, "timeout", max(at, command.due_at))
        event = {"id": "e1", "name": "go", "key": None, "payload": {}, "receivedAt": "x"}
        return WaitResolved(command.token, "event", at, event=event)
    if isinstance(command, CreateTask):
        return WaitResolved(command.token, "task", at, data={"approved": True})
    if isinstance(command, StartChild) and command.wait:
        return ChildFinished(command.token, at, RunStatus.SUCCEEDED, output={})
    return None


def _play(definition: Definition, state: dict[str, Any], seen: Keys) -> Outcome:
    """Answer every command, one input per advance, the state round-tripped through JSON."""
    outcome = advance(definition, state, RUN)
    pending = list(outcome.commands)
    at = T0
    for _ in range(200):
        seen.update(_keys_of(outcome.state))
        if not pending:
            break
        at += timedelta(seconds=1)
        item = _answer(pending.pop(0), at)
        if item is None:
            continue
        at = item.at
        state = json.loads(json.dumps(outcome.state))
        outcome = advance(definition, state, RUN, [item])
        pending += outcome.commands
    return outcome


def _run_keys() -> Keys:
    seen: Keys = set()
    everything = _everything()
    assert _play(everything, start_state(everything, {}), seen).status is RunStatus.SUCCEEDED

    two = Definition.model_validate({"key": "wf", "steps": [_step("a"), _step("b")]})
    yielded = advance(two, start_state(two, {}), RUN, should_yield=lambda: True)
    assert yielded.yielded
    seen.update(_keys_of(yielded.state))

    failing = Definition.model_validate({"key": "wf", "steps": [_action("x")]})
    failed = _play(failing, start_state(failing, {}), seen)
    assert failed.status is RunStatus.FAILED
    seen.update(_keys_of(retry_state(failing, failed.state)))

    source = Definition.model_validate({"key": "wf", "steps": [_wait("w1")]})
    target = Definition.model_validate({"key": "wf", "steps": [_wait("w2")]})
    parked = advance(source, start_state(source, {}), RUN)
    plan = Migrator(source, target, {"w1": "w2"}).plan(parked.state, T0)
    assert plan.state is not None, plan.problems
    seen.update(_keys_of(plan.state))
    return seen


def _step(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "transform.assign", "config": {"assign": {"vars.x": 1}}}


def _wait(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "event.wait", "config": {"eventName": "go"}}


# --------------------------------------------------------------------------- keys the code writes


_BASES = {"state": "state", "new_state": "state", "frame": "frame", "record": "record"}
"""Names (of a variable or an attribute) that hold a run's state, a frame or a record."""
_ENVELOPE = {"env": "envelope.", "meta": "envelope.meta."}
"""In runtime/: names that hold the envelope (``Machine.env``) and its ``meta``."""


def _level(node: ast.expr, in_runtime: bool) -> tuple[str, str] | None:
    """The level of the state ``node`` holds, and the prefix of its keys' names."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
    if name in ("state", "frame") or (isinstance(node, ast.Name) and name in _BASES):
        return _BASES[name], ""
    if in_runtime and name in _ENVELOPE:
        return "envelope", _ENVELOPE[name]
    return None


def _written_keys() -> dict[tuple[str, str], str]:
    """Each key written through a name above, with where (for the failure message)."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        in_runtime = path.parent.name == "runtime"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(SOURCE)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if not isinstance(target, ast.Subscript):
                        continue
                    key = target.slice.value if isinstance(target.slice, ast.Constant) else None
                    level = _level(target.value, in_runtime)
                    if level is None or not isinstance(key, str):
                        continue
                    found.setdefault((level[0], level[1] + key), where)
                    if level[1] == "envelope." and isinstance(node.value, ast.Dict):
                        for item in node.value.keys:  # env["meta"] = {**meta, "key": …}
                            if isinstance(item, ast.Constant):
                                found.setdefault(
                                    ("envelope", f"envelope.{key}.{item.value}"), where
                                )
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                level = _level(node.func.value, in_runtime)
                if level is None:
                    continue
                if node.func.attr == "update":
                    for keyword in node.keywords:
                        if keyword.arg is not None:
                            found.setdefault((level[0], level[1] + keyword.arg), where)
                elif node.func.attr == "setdefault" and isinstance(node.args[0], ast.Constant):
                    found.setdefault((level[0], level[1] + node.args[0].value), where)
    return found


def test_every_state_key_has_a_row_and_every_row_a_key() -> None:
    documented = _documented()
    assert {level for level, _ in documented} == set(TABLES.values()), "a table is missing"
    written = _written_keys()
    seen = _run_keys() | set(written)
    undocumented = sorted(
        f"{level} {key} ({written.get((level, key), 'run')})" for level, key in seen - documented
    )
    assert not undocumented, f"state keys without a row in {DOC.name} ('{SECTION}'): {undocumented}"
    stale = sorted(f"{level} {key}" for level, key in documented - seen)
    assert not stale, f"rows of {DOC.name} that name a key nothing writes: {stale}"
