"""Shadow replay: what a version *would* have done with a run that already happened.

Pure (no database, no clock, no action called). ``shadow(definition, run, payload, recording)``
starts the run afresh on ``definition`` with the interpreter (``advance``) and answers every
command from the recording instead of the world: an action call gets the output (or error) the
run's history recorded for that position and attempt, an event wait the event it received (or
its timeout), a human task the answer given, a child run the outcome it had, a timer fires at
the time it fired. Then the history the shadow writes is compared with the recorded one,
position by position (tokens name positions by step id, so the two line up across versions):
the first step where routing or results differ is the *divergence* (expected: this version;
actual: what happened). Where this version needs an answer the recording does not have (an
action call on a route the run never took), the shadow stops: "cannot replay past step X".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flowpin.definitions.models import Definition
from flowpin.runtime.decisions import (
    ActionResult,
    CallAction,
    CancelWait,
    ChildFinished,
    CreateTask,
    HistoryEntry,
    Input,
    Outcome,
    RunInfo,
    StartChild,
    WaitForEvent,
    WaitResolved,
    WaitUntil,
)
from flowpin.runtime.interpreter import ActionRetry, advance, start_state
from flowpin.types import TERMINAL_STATUSES, JSONObject, RunStatus

MAX_ROUNDS = 20_000
"""Inputs fed to one shadow at most (a recorded run has at most its history's length)."""
_ANSWERED = {
    CallAction: ("action.call",),
    WaitForEvent: ("event.wait",),
    CreateTask: ("human.task",),
    StartChild: ("control.callWorkflow",),
    WaitUntil: ("time.wait",),
}
_STUBBED = frozenset({"action.call", "event.wait", "human.task", "control.callWorkflow"})
"""Step types whose outputs come from the recording (so equal by construction)."""
_COMPARED_ENDS = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})
"""How a run can end by itself, with an output or an error to compare (not canceled)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded history row (as ``Engine.history`` returns it)."""

    step_id: str
    token: str
    type: str
    attempt: int
    status: str
    at: datetime
    input: Any = None
    output: Any = None
    error: Any = None


@dataclass(slots=True)
class Recording:
    """What happened to a run: its history, and which event waits ended by a timeout (a
    history row cannot tell a timeout under ``onTimeout: continue`` from a null payload)."""

    history: list[Recorded]
    status: str
    output: Any = None
    timed_out: frozenset[str] = frozenset()
    waiting: frozenset[str] = frozenset()
    """Tokens the run is parked at right now (an active run)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """Succeeded action outputs by token as the ledger keeps them: unlike history rows they
    are not redacted, so the steps after them compute what the run computed."""


@dataclass(slots=True)
class ShadowResult:
    status: str
    """The shadow's run status where it stopped."""
    compared: int
    divergence: JSONObject | None = None
    stopped: JSONObject | None = None
    output: Any = None
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def result(self) -> str:
        if self.divergence is not None:
            return "diverges"
        if self.stopped is None:
            return "same"
        return "in-progress" if self.stopped.get("inProgress") else "incomplete"

    def to_dict(self) -> JSONObject:
        return {
            "result": self.result,
            "divergence": self.divergence,
            "stopped": self.stopped,
            "shadowStatus": self.status,
            "comparedSteps": self.compared,
        }


def shadow(
    definition: Definition,
    run: RunInfo,
    payload: Any,
    recording: Recording,
    *,
    action_retry: ActionRetry | None = None,
    mask: Callable[[Any], Any] | None = None,
    meta: JSONObject | None = None,
) -> ShadowResult:
    """Re-evaluate ``definition`` against ``recording`` (see the module docstring). ``mask``
    is applied to the shadow's values before they are compared with the recorded ones, which
    were stored redacted. ``meta``: what the run's ``meta`` started with (a schedule's slot)."""
    answers = _Answers(recording)
    state = start_state(definition, payload, meta)
    outcome = advance(definition, state, run, action_retry=action_retry)
    produced = list(outcome.history)
    pending: dict[str, Any] = {}
    stopped: JSONObject | None = None
    for _ in range(MAX_ROUNDS):
        _track(pending, outcome.commands)
        if outcome.status in TERMINAL_STATUSES:
            break
        chosen = answers.next_input(pending, recording)
        if isinstance(chosen, dict):
            stopped = chosen
            break
        token, item = chosen
        pending.pop(token, None)
        outcome = advance(definition, outcome.state, run, [item], action_retry=action_retry)
        produced += outcome.history
    divergence = _compare(
        produced, recording, outcome, mask or (lambda value: value), stopped is not None
    )
    return ShadowResult(
        status=outcome.status.value,
        compared=len(produced),
        divergence=divergence,
        stopped=stopped,
        output=outcome.output,
        history=produced,
    )


def _track(pending: dict[str, Any], commands: Iterable[Any]) -> None:
    for command in commands:
        if isinstance(command, CancelWait):
            pending.pop(command.token, None)
        elif isinstance(command, StartChild) and not command.wait:
            continue
        elif isinstance(command, CallAction | WaitForEvent | WaitUntil | CreateTask | StartChild):
            pending[command.token] = command


class _Answers:
    """The recorded answers, consumed in order per position."""

    def __init__(self, recording: Recording) -> None:
        self.rows: dict[str, list[tuple[int, Recorded]]] = {}
        for index, row in enumerate(recording.history):
            self.rows.setdefault(row.token, []).append((index, row))
        self.used: dict[str, int] = {}

    def _peek(self, token: str, types: tuple[str, ...]) -> tuple[int, Recorded] | None:
        rows = [item for item in self.rows.get(token, []) if item[1].type in types]
        used = self.used.get(token, 0)
        return rows[used] if used < len(rows) else None

    def next_input(
        self, pending: dict[str, Any], recording: Recording
    ) -> tuple[str, Input] | JSONObject:
        """The pending command whose recorded answer came first, as an input; or why none
        can be answered. A retry backoff goes first, a timer the run never reached fires
        last (neither needs a recording)."""
        best: tuple[float, str, Input, bool] | None = None
        blocked: JSONObject | None = None
        for token, command in pending.items():
            if isinstance(command, WaitUntil) and command.reason == "retry":
                candidate = (-1.0, token, WaitResolved(token, "timer", command.due_at), False)
            else:
                found = self._peek(token, _ANSWERED[type(command)])
                if found is not None:
                    index, row = found
                    item = _input_for(command, row, recording)
                    candidate = (float(index), token, item, True)
                elif isinstance(command, WaitUntil) and token not in recording.waiting:
                    item = WaitResolved(token, "timer", command.due_at)
                    candidate = (float("inf"), token, item, False)
                else:
                    blocked = blocked or _blocked(command, recording)
                    continue
            if best is None or candidate[0] < best[0]:
                best = candidate
        if best is None:
            return blocked or {"stepId": None, "token": None, "reason": "nothing to resume"}
        _, token, item, consume = best
        if consume:
            self.used[token] = self.used.get(token, 0) + 1
        return token, item


def _blocked(command: Any, recording: Recording) -> JSONObject:
    step_id = command.step_id
    if command.token in recording.waiting:
        reason = f"the run is still waiting at step {step_id!r}: nothing to compare beyond it"
        return {"stepId": step_id, "token": command.token, "reason": reason, "inProgress": True}
    elif isinstance(command, CallAction):
        reason = f"cannot replay past step {step_id!r}: no recorded output"
    elif isinstance(command, WaitForEvent):
        reason = f"cannot replay past step {step_id!r}: no recorded event"
    elif isinstance(command, CreateTask):
        reason = f"cannot replay past step {step_id!r}: no recorded task answer"
    else:
        reason = f"cannot replay past step {step_id!r}: no recorded outcome"
    return {"stepId": step_id, "token": command.token, "reason": reason}


def _input_for(command: Any, row: Recorded, recording: Recording) -> Input:
    at = row.at
    error = row.error if isinstance(row.error, dict) else None
    if isinstance(command, CallAction):
        if row.status == "succeeded":
            output = recording.outputs.get(command.token, row.output)
            return ActionResult(command.token, command.attempt, at, output=output)
        recorded = error or {"category": "ActionError", "message": "failed"}
        fed = {key: recorded[key] for key in ("category", "message", "data") if key in recorded}
        if row.status == "retrying":
            fed["retryable"] = True
        return ActionResult(command.token, command.attempt, at, error=fed)
    if isinstance(command, WaitForEvent):
        timed_out = row.status != "succeeded" or (
            row.output is None and command.token in recording.timed_out
        )
        if timed_out:
            return WaitResolved(command.token, "timeout", at)
        event = {
            "id": None,
            "name": command.event_name,
            "key": command.correlation_key,
            "payload": row.output,
            "receivedAt": at.isoformat().replace("+00:00", "Z"),
        }
        return WaitResolved(command.token, "event", at, event=event)
    if isinstance(command, CreateTask):
        if row.status == "succeeded":
            return WaitResolved(command.token, "task", at, data=row.output)
        return WaitResolved(command.token, "timeout", at)
    if isinstance(command, StartChild):
        if row.status == "succeeded":
            return ChildFinished(command.token, at, RunStatus.SUCCEEDED, output=row.output)
        data = (error or {}).get("data") or {}
        status = (
            data.get("status", RunStatus.FAILED) if isinstance(data, dict) else RunStatus.FAILED
        )
        child_error = data.get("error") if isinstance(data, dict) else None
        return ChildFinished(command.token, at, RunStatus(status), error=child_error)
    return WaitResolved(command.token, "timer", at)


def _summary(status: str, value: Any, what: str) -> JSONObject:
    return {"status": status, what: value}


def _compare(
    produced: list[HistoryEntry],
    recording: Recording,
    outcome: Outcome,
    mask: Callable[[Any], Any],
    stopped: bool,
) -> JSONObject | None:
    recorded: dict[str, list[Recorded]] = {}
    for row in recording.history:
        recorded.setdefault(row.token, []).append(row)
    seen: dict[str, int] = {}
    for entry in produced:
        occurrence = seen.get(entry.token, 0)
        seen[entry.token] = occurrence + 1
        rows = recorded.get(entry.token, [])
        actual = rows[occurrence] if occurrence < len(rows) else None
        found = _differs(entry, actual, mask)
        if found is not None:
            return found
    for token, rows in recorded.items():
        if stopped:
            break  # what the shadow could not reach is not a divergence
        if len(rows) > seen.get(token, 0):
            row = rows[seen.get(token, 0)]
            return {
                "stepId": row.step_id,
                "token": token,
                "what": "route",
                "message": f"step {row.step_id!r} ran, but this version does not reach it",
                "expected": None,
                "actual": _summary(row.status, row.output, "output"),
            }
    ended = outcome.status.value
    if ended in _COMPARED_ENDS and recording.status in _COMPARED_ENDS:
        expected = mask(outcome.output)
        if ended != recording.status or expected != recording.output:
            return {
                "stepId": None,
                "token": None,
                "what": "output",
                "message": "the run would end differently",
                "expected": _summary(ended, expected, "output"),
                "actual": _summary(recording.status, recording.output, "output"),
            }
    return None


def _differs(
    entry: HistoryEntry, actual: Recorded | None, mask: Callable[[Any], Any]
) -> JSONObject | None:
    output = mask(entry.output)
    if actual is None:
        return {
            "stepId": entry.step_id,
            "token": entry.token,
            "what": "route",
            "message": f"this version runs step {entry.step_id!r}, which the run never reached",
            "expected": _summary(entry.status, output, "output"),
            "actual": None,
        }
    if entry.status != actual.status:
        return {
            "stepId": entry.step_id,
            "token": entry.token,
            "what": "status",
            "message": f"step {entry.step_id!r} would be {entry.status}, it was {actual.status}",
            "expected": _summary(entry.status, output, "output"),
            "actual": _summary(actual.status, actual.output, "output"),
        }
    if entry.step_type == "action.call":
        expected_input = mask(entry.input)
        if expected_input != actual.input:
            return {
                "stepId": entry.step_id,
                "token": entry.token,
                "what": "input",
                "message": f"step {entry.step_id!r} would call its action with another input",
                "expected": _summary(entry.status, expected_input, "input"),
                "actual": _summary(actual.status, actual.input, "input"),
            }
    if entry.step_type not in _STUBBED and output != actual.output:
        what = "branch" if entry.step_type in ("control.if", "control.switch") else "output"
        return {
            "stepId": entry.step_id,
            "token": entry.token,
            "what": what,
            "message": f"step {entry.step_id!r} would give another {what}",
            "expected": _summary(entry.status, output, "output"),
            "actual": _summary(actual.status, actual.output, "output"),
        }
    return None
