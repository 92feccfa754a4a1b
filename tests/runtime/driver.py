"""Plays runs through ``advance`` with stubbed actions and a hand-moved clock - no database.

    driver = Driver(workflow([...]), payload, actions={"crm.create": lambda args: {"id": 1}})
    outcome = driver.play()          # start, answer calls, fire timers until blocked or done

A stub is a callable ``(input) -> output`` (or ``(input, call) -> output``) or a plain value;
raising ``Fail(category, message, ...)`` makes the call fail. Events, tasks and children are fed
by hand (``send_event``, ``complete_task``, ``finish_child``, ``timeout``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from builders import action_call
from builders import assign as assign  # re-exported: the runtime tests take it from here
from builders import expr as expr
from flowpin.definitions.models import Definition
from flowpin.runtime.decisions import (
    ActionResult,
    CallAction,
    CancelWait,
    ChildFinished,
    Command,
    CreateTask,
    EmitEvent,
    HistoryEntry,
    Input,
    Outcome,
    RunInfo,
    StartChild,
    WaitForEvent,
    WaitResolved,
    WaitUntil,
)
from flowpin.runtime.interpreter import advance, retry_state, start_state
from flowpin.types import RunStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUN = RunInfo(run_id="run-1", workflow_key="wf", version=1, subject="subject-1", started_at=T0)


def workflow(steps: list[Any], **extra: Any) -> Definition:
    return Definition.model_validate({"key": "wf", "steps": steps, **extra})


def action(
    step_id: str, action_id: str = "demo.act", save_as: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An action.call step of ``demo.act`` unless told; see ``builders.action_call``."""
    return action_call(step_id, action_id, save_as=save_as, **extra)


class Fail(Exception):
    """Raised by a stub: the call fails with this error."""

    def __init__(
        self,
        category: str = "ActionError",
        message: str = "boom",
        *,
        retryable: bool | None = None,
        retry_after_ms: int | None = None,
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = {"category": category, "message": message}
        if retryable is not None:
            self.error["retryable"] = retryable
        if retry_after_ms is not None:
            self.error["retryAfterMs"] = retry_after_ms
        if data is not None:
            self.error["data"] = data


def raises(
    category: str = "ActionError", message: str = "boom", **options: Any
) -> Callable[[Any], Any]:
    """A stub that always fails."""

    def stub(_input: Any) -> Any:
        raise Fail(category, message, **options)

    return stub


@dataclass
class Driver:
    definition: Definition
    payload: Any = None
    actions: dict[str, Any] = field(default_factory=dict)
    run: RunInfo = RUN
    options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``advance`` (limits, action_retry)."""

    def __post_init__(self) -> None:
        self.state: dict[str, Any] = start_state(self.definition, self.payload)
        self.now = self.run.started_at
        self.outcome: Outcome | None = None
        self.commands: list[Command] = []
        self.history: list[HistoryEntry] = []
        self.calls: dict[str, CallAction] = {}
        self.waits: dict[str, Command] = {}
        self.emitted: list[EmitEvent] = []
        self.canceled: list[str] = []
        self.all_calls: list[CallAction] = []

    # ------------------------------------------------------------------ low level

    def advance(self, inputs: Sequence[Input] = (), **options: Any) -> Outcome:
        outcome = advance(
            self.definition, self.state, self.run, inputs, **{**self.options, **options}
        )
        self.outcome = outcome
        self.state = outcome.state
        self.commands.extend(outcome.commands)
        self.history.extend(outcome.history)
        for command in outcome.commands:
            if isinstance(command, CallAction):
                self.calls[command.token] = command
                self.all_calls.append(command)
            elif isinstance(command, EmitEvent):
                self.emitted.append(command)
            elif isinstance(command, CancelWait):
                self.waits.pop(command.token, None)
                self.canceled.append(command.token)
            elif isinstance(command, StartChild):
                if command.wait:
                    self.waits[command.token] = command
            else:
                self.waits[command.token] = command
        if outcome.status.terminal:
            self.waits.clear()
            self.calls.clear()
        return outcome

    @property
    def status(self) -> RunStatus:
        assert self.outcome is not None
        return self.outcome.status

    @property
    def vars(self) -> dict[str, Any]:
        return self.state["envelope"]["vars"]

    @property
    def meta(self) -> dict[str, Any]:
        return self.state["envelope"]["meta"]

    def statuses(self, step_id: str) -> list[str]:
        return [entry.status for entry in self.history if entry.step_id == step_id]

    # ------------------------------------------------------------------ playing

    def answer(self, call: CallAction) -> ActionResult:
        stub = self.actions.get(call.action_id)
        try:
            if callable(stub):
                arity = len(inspect.signature(stub).parameters)
                output = stub(call.input, call) if arity >= 2 else stub(call.input)
            else:
                output = stub
        except Fail as failure:
            return ActionResult(call.token, call.attempt, self.now, error=failure.error)
        return ActionResult(call.token, call.attempt, self.now, output=output)

    def play(self, *, fire_timers: bool = True, max_rounds: int = 10_000) -> Outcome:
        """Start (if not started) and run until terminal or blocked on something external."""
        if self.outcome is None:
            self.advance()
        for _ in range(max_rounds):
            assert self.outcome is not None
            if self.outcome.status.terminal:
                return self.outcome
            if self.outcome.yielded and not self.calls:
                self.advance()  # positions a yield left runnable
                continue
            if self.calls:
                calls = list(self.calls.values())
                self.calls.clear()
                self.advance([self.answer(call) for call in calls])
                continue
            timers = [w for w in self.waits.values() if isinstance(w, WaitUntil)]
            if fire_timers and timers:
                first = min(timers, key=lambda w: (w.due_at, w.token))
                self.now = max(self.now, first.due_at)
                self.fire(first.token)
                continue
            return self.outcome
        raise AssertionError("run did not settle")

    def fire(self, token: str, at: datetime | None = None) -> Outcome:
        self.waits.pop(token, None)
        return self.advance([WaitResolved(token, "timer", at or self.now)])

    def send_event(self, token: str, payload: Any = None, **fields: Any) -> Outcome:
        wait = self.waits.pop(token)
        assert isinstance(wait, WaitForEvent)
        event = {
            "id": fields.get("id", "evt-1"),
            "name": wait.event_name,
            "key": wait.correlation_key,
            "payload": payload,
            "receivedAt": fields.get("receivedAt", self.now.isoformat()),
        }
        return self.advance([WaitResolved(token, "event", self.now, event=event)])

    def timeout(self, token: str) -> Outcome:
        wait = self.waits.pop(token)
        due = getattr(wait, "due_at", None)
        if due is not None:
            self.now = max(self.now, due)
        return self.advance([WaitResolved(token, "timeout", self.now)])

    def complete_task(self, token: str, data: Any) -> Outcome:
        wait = self.waits.pop(token)
        assert isinstance(wait, CreateTask)
        return self.advance([WaitResolved(token, "task", self.now, data=data)])

    def finish_child(
        self, token: str, status: RunStatus, output: Any = None, error: Any = None
    ) -> Outcome:
        self.waits.pop(token)
        return self.advance([ChildFinished(token, self.now, status, output=output, error=error)])

    def retry(self, from_step: str | None = None, payload: Any = None, **options: Any) -> None:
        """Apply an operator's retry-from-step; ``play`` then continues the run."""
        self.state = retry_state(self.definition, self.state, from_step, payload, **options)
        self.outcome = None

    def tick(self, delta: timedelta) -> None:
        self.now += delta


def play(
    definition: Definition,
    payload: Any = None,
    actions: dict[str, Any] | None = None,
    **options: Any,
) -> Driver:
    driver = Driver(definition, payload, actions or {}, options=options)
    driver.play()
    return driver
