"""The node steps (``state.set``, ``transform.assign``, ``action.call``, ``event.wait``,
``time.wait``, ``human.task``, ``event.emit``): starting them and resuming them with an input.

A mixin of ``Machine``, which provides the scope, history and failure handling they use.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flowpin.runtime._utils import filter_source, key_string, parse_time, text
from flowpin.runtime.decisions import (
    ActionResult,
    CallAction,
    CreateTask,
    EmitEvent,
    WaitForEvent,
    WaitResolved,
    WaitUntil,
)
from flowpin.runtime.evaluators import clone
from flowpin.runtime.failures import (
    TIMEOUT,
    VALIDATION,
    StepFailure,
    iso,
    make_error,
)
from flowpin.runtime.ids import (
    event_id,
    idempotency_key,
    identity,
    task_id,
)
from flowpin.runtime.program import (
    StepInfo,
)
from flowpin.runtime.state import (
    Ctx,
)

if TYPE_CHECKING:
    from flowpin.runtime.machine import Machine

MAX_WAIT = timedelta(days=365)
MAX_TASK_TITLE = 500
"""A human task's title is cut to this many characters, ending in "…" (``human_tasks.title``):
an expression over an email subject can be longer, and the task must still be created."""


class NodeSteps:
    """Handlers of node steps; every method runs on a ``Machine``."""

    def _action_result(
        self: Machine, ctx: Ctx, info: StepInfo, item: ActionResult, now: datetime
    ) -> Ctx | None:
        if item.error is None:
            if info.save_as is not None:
                self._write(ctx, info.save_as, item.output)
            self._done(ctx, info, now, item.output, started=item.started or now)
            return self._next(ctx)
        raw = item.error if isinstance(item.error, dict) else {"message": str(item.error)}
        error = make_error(
            str(raw.get("category")),
            str(raw.get("message", "")),
            info.step.id,
            item.attempt,
            now,
            raw.get("data"),
        )
        return self._node_failed(
            ctx,
            info,
            error,
            now,
            retryable=raw.get("retryable"),
            retry_after=raw.get("retryAfterMs"),
            started=item.started or now,
        )

    def _event_received(
        self: Machine, ctx: Ctx, info: StepInfo, item: WaitResolved, now: datetime
    ) -> Ctx:
        event = item.event if isinstance(item.event, dict) else {}
        payload = event.get("payload")
        if info.save_as is not None:
            self._write(ctx, info.save_as, payload)
        meta = dict(self.env["meta"])
        meta["lastEvent"] = {
            "id": event.get("id"),
            "name": event.get("name"),
            "key": event.get("key"),
            "receivedAt": event.get("receivedAt"),
        }
        meta["timedOut"] = False
        self.env["meta"] = meta
        self._done(ctx, info, now, payload, detail={"eventId": event.get("id")})
        return self._next(ctx)

    def _event_timeout(self: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
        config = info.config
        if config.on_timeout == "continue":
            if info.save_as is not None:
                self._write(ctx, info.save_as, None)
            self.env["meta"] = {**self.env["meta"], "timedOut": True}
            self._done(ctx, info, now, None)
            return self._next(ctx)
        message = f"no {config.event_name!r} event arrived before the timeout"
        return self._node_error(ctx, info, TIMEOUT, message, now)

    # ------------------------------------------------------------------ node steps

    def _state_set(self: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
        value = info.config.state
        self.env["meta"] = {**self.env["meta"], "state": value}
        self._hist(ctx, info, "succeeded", now, output=value)
        return self._next(ctx)

    def _assign(self: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info)
        values = [
            (path, segments, self._eval(evaluator, envelope, now, seed))
            for path, segments, evaluator in info.assign
        ]
        output = {}
        for path, segments, value in values:
            self._write(ctx, segments, value)
            output[path] = value
        self._hist(ctx, info, "succeeded", now, output=output)
        return self._next(ctx)

    def _action(self: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
        config = info.config
        frame = ctx.frame
        attempt = frame.get("n", 1)
        token = ctx.prefix + info.step.id
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info, attempt)
        values = info.values
        arguments = self._eval(values["input"], envelope, now, seed)
        key = None
        if "key" in values:
            key = key_string(self._eval(values["key"], envelope, now, seed))
        if key is None:
            ident = identity(token, frame.get("g", self.generation))
            key = idempotency_key(self.run_id, ident, config.action_id, config.version)
        frame["st"] = "call"
        frame["in"] = arguments
        frame["k"] = key
        if "t0" not in frame:
            frame["t0"] = self._ms(now)
        self.commands.append(
            CallAction(
                token,
                info.step.id,
                config.action_id,
                config.version,
                arguments,
                key,
                attempt,
                info.step.timeout_ms,
            )
        )
        return None

    def _event_wait(self: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
        config = info.config
        frame = ctx.frame
        attempt = frame.get("n", 1)
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info, attempt)
        if "key" in info.values:
            key = key_string(self._eval(info.values["key"], envelope, now, seed))
        else:
            key = self.run.subject
        source = filter_source(config.filter)
        timeout = config.timeout_ms or info.step.timeout_ms
        due = now + timedelta(milliseconds=timeout) if timeout else None
        frame["st"] = "event"
        frame["in"] = {"eventName": config.event_name, "correlationKey": key}
        if due is not None:
            frame["due"] = iso(due)
        if "t0" not in frame:
            frame["t0"] = self._ms(now)
        token = ctx.prefix + info.step.id
        self.commands.append(
            WaitForEvent(
                token,
                info.step.id,
                config.event_name,
                key,
                source,
                envelope if source is not None else None,
                due,
            )
        )
        return None

    def _time_wait(self: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
        config = info.config
        if config.duration_ms is not None:
            due = now + timedelta(milliseconds=config.duration_ms)
        elif config.until is not None:
            envelope = self._envelope(ctx)
            value = self._eval(info.values["until"], envelope, now, self._seed(ctx, info))
            parsed = parse_time(value)
            if parsed is None:
                raise StepFailure(VALIDATION, f"time.wait until is not an ISO time: {value!r}")
            due = parsed
        else:
            raise StepFailure(VALIDATION, "time.wait needs durationMs or until")
        if due - now > MAX_WAIT:
            raise StepFailure(VALIDATION, f"time.wait until {iso(due)} is more than 365 days away")
        attempt = ctx.frame.get("n", 1)
        if due <= now:
            self._hist(ctx, info, "succeeded", now, attempt=attempt)
            return self._next(ctx)
        frame = ctx.frame
        frame["st"] = "timer"
        frame["due"] = iso(due)
        if "t0" not in frame:
            frame["t0"] = self._ms(now)
        self.commands.append(WaitUntil(ctx.prefix + info.step.id, info.step.id, due, "time.wait"))
        return None

    def _human_task(self: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
        config = info.config
        frame = ctx.frame
        attempt = frame.get("n", 1)
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info, attempt)
        values = info.values
        title = text(self._eval(values["title"], envelope, now, seed)) or ""
        if len(title) > MAX_TASK_TITLE:
            title = title[: MAX_TASK_TITLE - 1] + "…"
        description = text(self._eval(values["description"], envelope, now, seed))
        assignee = text(self._eval(values["assignee"], envelope, now, seed))
        timeout = config.timeout_ms or info.step.timeout_ms
        due = now + timedelta(milliseconds=timeout) if timeout else None
        the_task = task_id(self.run_id, self._identity(ctx), attempt)
        frame["st"] = "task"
        frame["in"] = {"taskId": the_task, "title": title, "assignee": assignee}
        if due is not None:
            frame["due"] = iso(due)
        if "t0" not in frame:
            frame["t0"] = self._ms(now)
        self.commands.append(
            CreateTask(
                ctx.prefix + info.step.id,
                info.step.id,
                title,
                description,
                assignee,
                clone(config.form_schema),
                due,
                the_task,
            )
        )
        return None

    def _emit(self: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
        config = info.config
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info)
        key = key_string(self._eval(info.values["key"], envelope, now, seed))
        payload = self._eval(info.values["payload"], envelope, now, seed)
        the_event = event_id(self.run_id, self._identity(ctx))
        self.commands.append(EmitEvent(info.step.id, the_event, config.event_name, key, payload))
        detail = {"eventId": the_event, "name": config.event_name, "key": key}
        self._hist(ctx, info, "succeeded", now, input=payload, output=detail)
        return self._next(ctx)

    def _unknown(self: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
        raise StepFailure(VALIDATION, info.problem or f"unknown step type {info.type!r}")
