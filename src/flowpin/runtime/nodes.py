"""The node steps (``state.set``, ``transform.assign``, ``action.call``, ``event.wait``,
``time.wait``, ``human.task``, ``event.emit``): starting them, and resuming a parked one with
the input it waited for.

A start is a ``machine.StepHandler`` found by kind in ``STARTS``; a resume is found by input
type in ``machine.RESUMES``. A step that parks issues its command and records its frame's
status (``st``) and input (``in``); its history row comes when it resumes. A failed attempt
goes to the failure ladder (``ladder.node_failed``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flowpin.runtime import ladder
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
from flowpin.runtime.failures import TIMEOUT, VALIDATION, StepFailure, iso, make_error
from flowpin.runtime.ids import event_id, idempotency_key, identity, task_id
from flowpin.runtime.program import (
    ACTION,
    ASSIGN,
    EMIT,
    EVENT_WAIT,
    HUMAN_TASK,
    STATE_SET,
    TIME_WAIT,
    UNKNOWN_NODE,
    StepInfo,
)
from flowpin.runtime.state import Ctx

if TYPE_CHECKING:
    from flowpin.runtime.machine import Machine, StepHandler

MAX_WAIT = timedelta(days=365)
MAX_TASK_TITLE = 500
"""A human task's title is cut to this many characters, ending in "…" (``human_tasks.title``):
an expression over an email subject can be longer, and the task must still be created."""

# --------------------------------------------------------------------------- starting


def state_set(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
    value = info.config.state
    m.env["meta"] = {**m.env["meta"], "state": value}
    m.record(ctx, info, "succeeded", now, output=value)
    return m.next_step(ctx)


def assign(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
    envelope = m.envelope(ctx)
    seed = m.seed(ctx, info)
    values = [
        (path, segments, m.evaluate(evaluator, envelope, now, seed))
        for path, segments, evaluator in info.assign
    ]
    output = {}
    for path, segments, value in values:
        m.write(ctx, segments, value)
        output[path] = value
    m.record(ctx, info, "succeeded", now, output=output)
    return m.next_step(ctx)


def action_call(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
    config = info.config
    frame = ctx.frame
    attempt = frame.get("n", 1)
    token = ctx.prefix + info.step.id
    envelope = m.envelope(ctx)
    seed = m.seed(ctx, info, attempt)
    values = info.values
    arguments = m.evaluate(values["input"], envelope, now, seed)
    key = None
    if "key" in values:
        key = key_string(m.evaluate(values["key"], envelope, now, seed))
    if key is None:
        ident = identity(token, frame.get("g", m.generation))
        key = idempotency_key(m.run_id, ident, config.action_id, config.version)
    frame["st"] = "call"
    frame["in"] = arguments
    frame["k"] = key
    if "t0" not in frame:
        frame["t0"] = m.epoch_ms(now)
    m.commands.append(
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


def event_wait(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
    config = info.config
    frame = ctx.frame
    attempt = frame.get("n", 1)
    envelope = m.envelope(ctx)
    seed = m.seed(ctx, info, attempt)
    if "key" in info.values:
        key = key_string(m.evaluate(info.values["key"], envelope, now, seed))
    else:
        key = m.run.subject
    source = filter_source(config.filter)
    timeout = config.timeout_ms or info.step.timeout_ms
    due = now + timedelta(milliseconds=timeout) if timeout else None
    frame["st"] = "event"
    frame["in"] = {"eventName": config.event_name, "correlationKey": key}
    if due is not None:
        frame["due"] = iso(due)
    if "t0" not in frame:
        frame["t0"] = m.epoch_ms(now)
    token = ctx.prefix + info.step.id
    m.commands.append(
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


def time_wait(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
    config = info.config
    if config.duration_ms is not None:
        due = now + timedelta(milliseconds=config.duration_ms)
    elif config.until is not None:
        envelope = m.envelope(ctx)
        value = m.evaluate(info.values["until"], envelope, now, m.seed(ctx, info))
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
        m.record(ctx, info, "succeeded", now, attempt=attempt)
        return m.next_step(ctx)
    frame = ctx.frame
    frame["st"] = "timer"
    frame["due"] = iso(due)
    if "t0" not in frame:
        frame["t0"] = m.epoch_ms(now)
    m.commands.append(WaitUntil(ctx.prefix + info.step.id, info.step.id, due, "time.wait"))
    return None


def human_task(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
    config = info.config
    frame = ctx.frame
    attempt = frame.get("n", 1)
    envelope = m.envelope(ctx)
    seed = m.seed(ctx, info, attempt)
    values = info.values
    title = text(m.evaluate(values["title"], envelope, now, seed)) or ""
    if len(title) > MAX_TASK_TITLE:
        title = title[: MAX_TASK_TITLE - 1] + "…"
    description = text(m.evaluate(values["description"], envelope, now, seed))
    assignee = text(m.evaluate(values["assignee"], envelope, now, seed))
    timeout = config.timeout_ms or info.step.timeout_ms
    due = now + timedelta(milliseconds=timeout) if timeout else None
    the_task = task_id(m.run_id, m.identity_of(ctx), attempt)
    frame["st"] = "task"
    frame["in"] = {"taskId": the_task, "title": title, "assignee": assignee}
    if due is not None:
        frame["due"] = iso(due)
    if "t0" not in frame:
        frame["t0"] = m.epoch_ms(now)
    m.commands.append(
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


def event_emit(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
    config = info.config
    envelope = m.envelope(ctx)
    seed = m.seed(ctx, info)
    key = key_string(m.evaluate(info.values["key"], envelope, now, seed))
    payload = m.evaluate(info.values["payload"], envelope, now, seed)
    the_event = event_id(m.run_id, m.identity_of(ctx))
    m.commands.append(EmitEvent(info.step.id, the_event, config.event_name, key, payload))
    detail = {"eventId": the_event, "name": config.event_name, "key": key}
    m.record(ctx, info, "succeeded", now, input=payload, output=detail)
    return m.next_step(ctx)


def unknown_node(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
    raise StepFailure(VALIDATION, info.problem or f"unknown step type {info.type!r}")


# --------------------------------------------------------------------------- resuming


def action_result(
    m: Machine, ctx: Ctx, info: StepInfo, item: ActionResult, now: datetime
) -> Ctx | None:
    """The outcome of the outstanding call of this attempt (another attempt's is ignored)."""
    frame = ctx.frame
    if frame.get("st") != "call" or frame.get("n", 1) != item.attempt:
        return None
    if item.error is None:
        if info.save_as is not None:
            m.write(ctx, info.save_as, item.output)
        m.record_resumed(ctx, info, now, item.output, started=item.started or now)
        return m.next_step(ctx)
    raw = item.error if isinstance(item.error, dict) else {"message": str(item.error)}
    error = make_error(
        str(raw.get("category")),
        str(raw.get("message", "")),
        info.step.id,
        item.attempt,
        now,
        raw.get("data"),
    )
    return ladder.node_failed(
        m,
        ctx,
        info,
        error,
        now,
        retryable=raw.get("retryable"),
        retry_after=raw.get("retryAfterMs"),
        started=item.started or now,
    )


def wait_resolved(
    m: Machine, ctx: Ctx, info: StepInfo, item: WaitResolved, now: datetime
) -> Ctx | None:
    """A parked wait ended: a timer (time.wait, or a retry backoff: the next attempt starts),
    an event or its timeout, a completed task or its timeout."""
    frame = ctx.frame
    status = frame.get("st")
    kind = item.kind
    if kind == "timer" and status == "retry":
        del frame["st"]
        frame.pop("due", None)
        return ctx
    if kind == "timer" and status == "timer":
        due = frame.get("due")
        m.record_resumed(ctx, info, now, None, input={"dueAt": due}, detail=item.detail)
        return m.next_step(ctx)
    if kind == "event" and status == "event":
        return _event_received(m, ctx, info, item, now)
    if kind == "timeout" and status == "event":
        return _event_timeout(m, ctx, info, now)
    if kind == "task" and status == "task":
        if info.save_as is not None:
            m.write(ctx, info.save_as, item.data)
        m.record_resumed(ctx, info, now, item.data, detail=item.detail)
        return m.next_step(ctx)
    if kind == "timeout" and status == "task":
        message = f"human task {info.step.id!r} was not completed in time"
        return ladder.node_error(m, ctx, info, TIMEOUT, message, now)
    return None


def _event_received(m: Machine, ctx: Ctx, info: StepInfo, item: WaitResolved, now: datetime) -> Ctx:
    event = item.event if isinstance(item.event, dict) else {}
    payload = event.get("payload")
    if info.save_as is not None:
        m.write(ctx, info.save_as, payload)
    meta = dict(m.env["meta"])
    meta["lastEvent"] = {
        "id": event.get("id"),
        "name": event.get("name"),
        "key": event.get("key"),
        "receivedAt": event.get("receivedAt"),
    }
    meta["timedOut"] = False
    m.env["meta"] = meta
    m.record_resumed(ctx, info, now, payload, detail={"eventId": event.get("id")})
    return m.next_step(ctx)


def _event_timeout(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
    config = info.config
    if config.on_timeout == "continue":
        if info.save_as is not None:
            m.write(ctx, info.save_as, None)
        m.env["meta"] = {**m.env["meta"], "timedOut": True}
        m.record_resumed(ctx, info, now, None)
        return m.next_step(ctx)
    message = f"no {config.event_name!r} event arrived before the timeout"
    return ladder.node_error(m, ctx, info, TIMEOUT, message, now)


STARTS: dict[int, StepHandler] = {
    STATE_SET: state_set,
    ASSIGN: assign,
    ACTION: action_call,
    EVENT_WAIT: event_wait,
    TIME_WAIT: time_wait,
    HUMAN_TASK: human_task,
    EMIT: event_emit,
    UNKNOWN_NODE: unknown_node,
}
