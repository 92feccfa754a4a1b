"""The pure interpreter: (definition, checkpointed state, inputs, logical time) → ``Outcome``.

``advance`` resumes the positions the inputs name, runs every pure step it can reach, and stops
when each active position waits for something outside (an action result, an event, a timer, a
task, a child run) or the run ends. It reads no clock, no randomness and no database, and never
raises for a workflow error: a failed step is data, handled as SPEC §4.3 says (retry → the step's
``onError: continue`` → the nearest ``control.tryCatch`` or ``forEach`` with
``onItemError: continue`` → the run fails).

Execution is a loop over *contexts* (``state.Ctx``: a pipeline frame plus the scope its token
sees), never recursion, so nesting depth and pipeline length cost no Python stack. Positions that
can run concurrently (forEach iterations, parallel branches) are queued and run one after another
until each blocks; the order is fixed by the definition and the inputs, so the outcome is too.

Decisions recorded here:

- ``error`` in the envelope is the caught error inside a ``catch`` pipe only: when the tryCatch
  completes, ``error`` is what it was before (``null`` at the top). Keep it with
  ``captureErrorAs``.
- A step that fails under ``onError: "continue"`` leaves ``saveAs`` untouched and sets
  ``meta.lastError`` to the error.
- ``control.return`` without ``output`` ends the run with the definition's ``output`` evaluated
  at that point (so an early return and a normal end produce the same shape).
- ``forEach`` ``items`` that is not an array is taken as one item (JSONata's singleton sequence),
  ``null`` as no items. Without ``collect`` each item yields ``null``.
- Parked positions that an error, a ``control.return`` or a failed run abandons get a
  ``CancelWait`` and a ``skipped`` history row; in-flight action calls get the row only (their
  result, when it comes, no longer finds its position and is ignored).
- A retry whose delay is 0 runs the next attempt at once, without a timer.
- ``totalBudgetMs``: a retry is made only if the next attempt would start within the budget,
  counted from the first attempt's logical time.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flowpin.definitions.models import Definition, RetryPolicy
from flowpin.errors import ConflictError, ExpressionError, NotFoundError
from flowpin.expressions.jsonata import DEFAULT_LIMITS, Limits, compile_expression
from flowpin.expressions.paths import MISSING, PathError, lookup
from flowpin.expressions.values import is_expr
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
from flowpin.runtime.evaluators import Evaluator
from flowpin.runtime.failures import (
    ACTION as ACTION_ERROR,
)
from flowpin.runtime.failures import (
    EXPRESSION,
    TIMEOUT,
    VALIDATION,
    StepFailure,
    iso,
    make_error,
)
from flowpin.runtime.ids import (
    child_run_id,
    event_id,
    expression_seed,
    idempotency_key,
    identity,
    task_id,
)
from flowpin.runtime.program import (
    ACTION,
    ASSIGN,
    CALL,
    EMIT,
    EVENT_WAIT,
    FAIL,
    FOREACH,
    HUMAN_TASK,
    IF,
    PARALLEL,
    RETURN,
    STATE_SET,
    SWITCH,
    TIME_WAIT,
    TRY,
    UNKNOWN_NODE,
    Program,
    StepInfo,
    program_for,
)
from flowpin.runtime.retry import retry_delay
from flowpin.runtime.state import (
    PARKED,
    STATE_FORMAT,
    Ctx,
    copy_state,
    is_leaf,
    leaves,
    put,
    resume_timers,
    root_ctx,
    route,
    walk,
)
from flowpin.types import JSONObject, RunStatus

__all__ = ["ActionRetry", "advance", "resume_timers", "retry_state", "start_state"]

ActionRetry = Callable[[str, int], "RetryPolicy | JSONObject | None"]
"""Looks up an action's default retry policy by ``(action_id, version)``."""

RAISE_INTERNAL_ERRORS = False
"""Tests set this to see interpreter bugs as exceptions; in production an unexpected exception
inside a step fails that step with a ValidationError naming it, instead of wedging the run."""

MAX_WAIT = timedelta(days=365)
_NODE_LIMIT = 10  # kinds below are node steps


# --------------------------------------------------------------------------- public API


def start_state(definition: Definition, payload: Any) -> JSONObject:
    """The state of a new run: its first step is pending, to be executed by ``advance``."""
    program = program_for(definition)
    return {
        "v": STATE_FORMAT,
        "status": "RUNNING",
        "envelope": {"payload": payload, "vars": {}, "meta": {}, "error": None},
        "root": {"s": program.first, "st": "new"},
        "g": 0,
        "pending": True,
    }


def advance(
    definition: Definition,
    state: JSONObject,
    run: RunInfo,
    inputs: Sequence[Input] = (),
    *,
    limits: Limits | None = None,
    action_retry: ActionRetry | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Apply ``inputs`` in order and run until every active position is blocked.

    ``state`` is not modified (the outcome holds a new state sharing its unchanged values).
    ``now`` is the logical time of work no input triggered - a new run (default
    ``run.started_at``) or a run an operator retried (default the last time the run saw).
    ``action_retry`` gives an action's default retry policy, used when a step has no ``retry``.
    Inputs naming a position that is not waiting for them are ignored.
    """
    program = program_for(definition)
    machine = _Machine(program, copy_state(state), run, limits or DEFAULT_LIMITS, action_retry)
    return machine.advance(inputs, now)


def retry_state(
    definition: Definition,
    state: JSONObject,
    from_step: str | None = None,
    new_payload: Any = None,
    *,
    now: datetime | None = None,
) -> JSONObject:
    """The state of an operator's "retry from step", for ``advance`` to continue from.

    Without ``from_step``, the run restarts where it stopped: the step that failed, and any
    position that was still active beside it (a canceled run restarts every active position).
    Attempts start again at 1. Action calls keep their idempotency keys, so what already
    succeeded is answered by the ledger; tasks, child runs and emitted events get new ids.

    With ``from_step``, the run restarts at that step with the current envelope; every action
    from there on runs again under new keys. The step may be nested in if/switch/tryCatch but
    not in a forEach or a parallel (``ConflictError``); an unknown id raises ``NotFoundError``.

    ``new_payload`` (unless ``None``) replaces the payload. ``now`` becomes the logical time of
    the restarted steps (default: the last time the run saw). The worker must close the run's
    open waits before the returned state is used: nothing is cancelled here.
    """
    program = program_for(definition)
    state = copy_state(state)
    generation = int(state.get("g", 0)) + 1
    if from_step is None:
        _restart_leaves(program, state, generation)
    else:
        state["root"] = _frames_to(program, state, from_step)
    state["g"] = generation
    state["status"] = "RUNNING"
    state["pending"] = True
    state["envelope"]["error"] = None
    state.pop("output", None)
    state.pop("failed", None)
    if new_payload is not None:
        state["envelope"]["payload"] = new_payload
    if now is not None:
        state["t"] = _ms(now)
    return state


# --------------------------------------------------------------------------- retry helpers


def _restart_leaves(program: Program, state: JSONObject, generation: int) -> None:
    if state.get("root") is None:
        raise ConflictError(
            "the run has no step to retry from; name one", code="run.nothing_to_retry"
        )
    old_generation = int(state.get("g", 0))
    for ctx in list(leaves(state)):
        frame = ctx.frame
        step_id = frame.get("s")
        info = program.steps.get(step_id) if step_id is not None else None
        keep = frame.get("g", old_generation)
        for key in ("st", "n", "t0", "due", "g", "dead"):
            frame.pop(key, None)
        frame["st"] = "new"
        if info is not None and info.kind == ACTION:
            # The ledger answers the calls that already succeeded; a failed one is retried
            # under the same key (SPEC §4.5).
            frame["g"] = keep


def _frames_to(program: Program, state: JSONObject, step_id: str) -> JSONObject:
    info = program.steps.get(step_id)
    if info is None:
        raise NotFoundError(f"step {step_id!r} is not in this version", code="step.not_found")
    chain: list[tuple[StepInfo, str]] = []
    current = info
    while current.parent is not None:
        parent = program.steps[current.parent]
        if parent.kind in (FOREACH, PARALLEL):
            raise ConflictError(
                f"step {step_id!r} is inside {parent.type} {parent.step.id!r}; "
                "retry from that step instead",
                code="run.retry_inside_loop",
            )
        chain.append((parent, current.branch or ""))
        current = parent
    frame: JSONObject = {"s": step_id, "st": "new"}
    for parent, branch in chain:
        frame = {"s": parent.step.id, "b": branch, "c": frame}
        if branch == "catch":
            caught = state["envelope"].get("error")
            if parent.save_as is not None:
                saved = lookup(state["envelope"], parent.save_as)
                if saved is not MISSING:
                    caught = saved
            frame["e"] = caught
    return frame


# --------------------------------------------------------------------------- value helpers


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_ms(value: Any) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


_run_envelopes: dict[int, tuple[RunInfo, JSONObject]] = {}


def _run_envelope(run: RunInfo) -> JSONObject:
    """``run.to_envelope()``, cached while the same RunInfo object is used (the worker keeps one
    per run it drives). The dict is shared between advances: it is never mutated."""
    cached = _run_envelopes.get(id(run))
    if cached is not None and cached[0] is run:
        return cached[1]
    envelope = run.to_envelope()
    if len(_run_envelopes) >= 4096:
        _run_envelopes.clear()
    _run_envelopes[id(run)] = (run, envelope)
    return envelope


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _key_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _text(value: Any) -> str | None:
    return _key_string(value)


# --------------------------------------------------------------------------- the machine


class _Machine:
    """One ``advance``: owns the (copied) state and collects commands and history."""

    def __init__(
        self,
        program: Program,
        state: JSONObject,
        run: RunInfo,
        limits: Limits,
        action_retry: ActionRetry | None,
    ) -> None:
        self.program = program
        self.steps = program.steps
        self.state = state
        self.env: JSONObject = state["envelope"]
        self.run = run
        self.run_id = run.run_id
        self.run_env = _run_envelope(run)
        self.limits = limits
        self.action_retry = action_retry
        self.generation: int = state.get("g", 0)
        self.commands: list[Command] = []
        self.history: list[HistoryEntry] = []
        self.queue: deque[tuple[Ctx, datetime]] = deque()
        self.ended = state.get("status") in ("SUCCEEDED", "FAILED", "CANCELED")
        self.now_at: datetime | None = None
        self.now_ms = 0

    # ------------------------------------------------------------------ driving

    def advance(self, inputs: Sequence[Input], now: datetime | None) -> Outcome:
        if self.ended:
            return self._outcome()
        state = self.state
        if state.pop("pending", False):
            start = now or _from_ms(state.get("t")) or self.run.started_at
            for ctx in [c for c in leaves(state) if c.frame.get("st") == "new"]:
                del ctx.frame["st"]
                self.queue.append((ctx, start))
            self._drain()
            state["t"] = _ms(start)
        for item in inputs:
            if self.ended:
                break
            self._deliver(item)
            self._drain()
        if inputs:
            latest = max(item.at for item in inputs)
            state["t"] = max(_ms(latest), state.get("t") or 0)
        return self._outcome()

    def _drain(self) -> None:
        queue = self.queue
        while queue and not self.ended:
            ctx, now = queue.popleft()
            if "dead" not in ctx.frame:
                self._exec(ctx, now)

    def _exec(self, ctx: Ctx | None, now: datetime) -> None:
        steps = self.steps
        handlers = _HANDLERS
        while ctx is not None and not self.ended:
            step_id = ctx.frame["s"]
            if step_id is None:
                ctx = self._pipeline_done(ctx, now)
                continue
            info = steps[step_id]
            try:
                if info.problem is not None:
                    raise StepFailure(VALIDATION, info.problem)
                ctx = handlers[info.kind](self, ctx, info, now)
            except ExpressionError as exc:
                data = {"expression": exc.expression, "position": exc.position}
                ctx = self._step_failed(ctx, info, EXPRESSION, exc.message, data, now)
            except StepFailure as exc:
                ctx = self._step_failed(ctx, info, exc.category, exc.message, exc.data, now)
            except PathError as exc:
                ctx = self._step_failed(ctx, info, VALIDATION, str(exc), None, now)
            except Exception as exc:
                if RAISE_INTERNAL_ERRORS:
                    raise
                message = f"internal error in {info.type} step: {exc!r}"
                ctx = self._step_failed(ctx, info, VALIDATION, message, None, now)

    def _outcome(self) -> Outcome:
        state = self.state
        if self.ended:
            status = RunStatus(state["status"])
            error = self.env.get("error") if status is RunStatus.FAILED else None
            return Outcome(
                state,
                status,
                self.commands,
                self.history,
                output=state.get("output"),
                error=error,
            )
        root = state["root"]
        if "c" not in root and "it" not in root and "br" not in root:
            calling = root.get("st") == "call"
            current = {root["s"]: None}
        else:
            calling = False
            current = {}
            for ctx in leaves(state):
                frame = ctx.frame
                if frame.get("st") == "call":
                    calling = True
                current[frame["s"]] = None
        status = RunStatus.RUNNING if calling else RunStatus.WAITING
        state["status"] = status.value
        return Outcome(state, status, self.commands, self.history, current_steps=list(current))

    # ------------------------------------------------------------------ inputs

    def _deliver(self, item: Input) -> None:
        ctx = route(self.state, item.token)
        if ctx is None:
            return
        frame = ctx.frame
        info = self.steps.get(frame["s"])
        if info is None:
            return
        status = frame.get("st")
        now = item.at
        after: Ctx | None
        if isinstance(item, ActionResult):
            if status != "call" or frame.get("n", 1) != item.attempt:
                return
            after = self._action_result(ctx, info, item, now)
        elif isinstance(item, WaitResolved):
            kind = item.kind
            if kind == "timer" and status == "retry":
                del frame["st"]
                del frame["due"]
                after = ctx
            elif kind == "timer" and status == "timer":
                self._done(ctx, info, now, None, input={"dueAt": frame.get("due")})
                after = self._next(ctx)
            elif kind == "event" and status == "event":
                after = self._event_received(ctx, info, item, now)
            elif kind == "timeout" and status == "event":
                after = self._event_timeout(ctx, info, now)
            elif kind == "task" and status == "task":
                if info.save_as is not None:
                    self._write(ctx, info.save_as, item.data)
                self._done(ctx, info, now, item.data)
                after = self._next(ctx)
            elif kind == "timeout" and status == "task":
                message = f"human task {info.step.id!r} was not completed in time"
                after = self._node_error(ctx, info, TIMEOUT, message, now)
            else:
                return
        elif isinstance(item, ChildFinished):
            if status != "child" or not RunStatus(item.status).terminal:
                return
            after = self._child_finished(ctx, info, item, now)
        else:
            return
        self._exec(after, now)

    def _action_result(
        self, ctx: Ctx, info: StepInfo, item: ActionResult, now: datetime
    ) -> Ctx | None:
        if item.error is None:
            if info.save_as is not None:
                self._write(ctx, info.save_as, item.output)
            self._done(ctx, info, now, item.output)
            return self._next(ctx)
        raw = item.error
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
        )

    def _event_received(self, ctx: Ctx, info: StepInfo, item: WaitResolved, now: datetime) -> Ctx:
        event = item.event or {}
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
        self._done(ctx, info, now, payload)
        return self._next(ctx)

    def _event_timeout(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
        config = info.config
        if config.on_timeout == "continue":
            if info.save_as is not None:
                self._write(ctx, info.save_as, None)
            self.env["meta"] = {**self.env["meta"], "timedOut": True}
            self._done(ctx, info, now, None)
            return self._next(ctx)
        message = f"no {config.event_name!r} event arrived before the timeout"
        return self._node_error(ctx, info, TIMEOUT, message, now)

    def _child_finished(
        self, ctx: Ctx, info: StepInfo, item: ChildFinished, now: datetime
    ) -> Ctx | None:
        if item.status == RunStatus.SUCCEEDED:
            if info.save_as is not None:
                self._write(ctx, info.save_as, item.output)
            self._done(ctx, info, now, item.output)
            return self._next(ctx)
        child_id = child_run_id(self.run_id, self._identity(ctx))
        child_error = item.error or {}
        message = f"child run {child_id} {item.status.lower()}"
        if child_error.get("message"):
            message += f": {child_error['message']}"
        data = {"childRunId": child_id, "status": str(item.status), "error": item.error}
        error = make_error(ACTION_ERROR, message, info.step.id, 1, now, data)
        self._hist(ctx, info, "failed", now, input=ctx.frame.get("in"), error=error)
        ctx.frame["st"] = "failed"
        return self._fail(ctx, error, now)

    # ------------------------------------------------------------------ small helpers

    def _envelope(self, ctx: Ctx) -> JSONObject:
        env = self.env
        return {
            "payload": env["payload"],
            "vars": ctx.holder[ctx.key],
            "meta": env["meta"],
            "error": ctx.error,
            "run": self.run_env,
        }

    def _seed(self, ctx: Ctx, info: StepInfo, attempt: int = 1) -> int | None:
        if not info.uses_random:
            return None
        return expression_seed(self.run_id, ctx.prefix + info.step.id, attempt)

    def _eval(
        self, evaluator: Evaluator, envelope: JSONObject, now: datetime, seed: int | None
    ) -> Any:
        if now is not self.now_at:
            self.now_at = now
            self.now_ms = _ms(now)
        return evaluator(envelope, self.now_ms, seed, self.limits)

    def _identity(self, ctx: Ctx) -> str:
        return identity(ctx.prefix + ctx.frame["s"], ctx.frame.get("g", self.generation))

    def _write(self, ctx: Ctx, segments: tuple[str, ...], value: Any) -> None:
        root = segments[0]
        if root == "vars":
            holder = ctx.holder
            holder[ctx.key] = put(holder[ctx.key], segments, 1, value)
        else:
            env = self.env
            env[root] = put(env[root], segments, 1, value)

    def _next(self, ctx: Ctx) -> Ctx:
        frame = ctx.frame
        following = self.steps[frame["s"]].next
        frame.clear()
        frame["s"] = following
        return ctx

    def _hist(
        self,
        ctx: Ctx,
        info: StepInfo,
        status: Any,
        now: datetime,
        *,
        attempt: int = 1,
        input: Any = None,
        output: Any = None,
        error: JSONObject | None = None,
        token: str | None = None,
    ) -> None:
        step_id = info.step.id
        self.history.append(
            HistoryEntry(
                step_id,
                token if token is not None else ctx.prefix + step_id,
                info.type,
                attempt,
                status,
                now,
                input,
                output,
                error,
            )
        )

    def _done(
        self, ctx: Ctx, info: StepInfo, now: datetime, output: Any, *, input: Any = None
    ) -> None:
        """The history row of a node step whose attempt succeeded after it waited."""
        frame = ctx.frame
        self.history.append(
            HistoryEntry(
                info.step.id,
                ctx.prefix + info.step.id,
                info.type,
                frame.get("n", 1),
                "succeeded",
                now,
                frame.get("in", input),
                output,
                None,
            )
        )

    # ------------------------------------------------------------------ node steps

    def _state_set(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
        value = info.config.state
        self.env["meta"] = {**self.env["meta"], "state": value}
        self._hist(ctx, info, "succeeded", now, output=value)
        return self._next(ctx)

    def _assign(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
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

    def _action(self, ctx: Ctx, info: StepInfo, now: datetime) -> None:
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
            key = _key_string(self._eval(values["key"], envelope, now, seed))
        if key is None:
            ident = identity(token, frame.get("g", self.generation))
            key = idempotency_key(self.run_id, ident, config.action_id, config.version)
        frame["st"] = "call"
        frame["in"] = arguments
        if "t0" not in frame:
            frame["t0"] = _ms(now)
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

    def _event_wait(self, ctx: Ctx, info: StepInfo, now: datetime) -> None:
        config = info.config
        frame = ctx.frame
        attempt = frame.get("n", 1)
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info, attempt)
        if "key" in info.values:
            key = _key_string(self._eval(info.values["key"], envelope, now, seed))
        else:
            key = self.run.subject
        source = _filter_source(config.filter)
        timeout = config.timeout_ms or info.step.timeout_ms
        due = now + timedelta(milliseconds=timeout) if timeout else None
        frame["st"] = "event"
        frame["in"] = {"eventName": config.event_name, "correlationKey": key}
        if due is not None:
            frame["due"] = iso(due)
        if "t0" not in frame:
            frame["t0"] = _ms(now)
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

    def _time_wait(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
        config = info.config
        if config.duration_ms is not None:
            due = now + timedelta(milliseconds=config.duration_ms)
        elif config.until is not None:
            envelope = self._envelope(ctx)
            value = self._eval(info.values["until"], envelope, now, self._seed(ctx, info))
            parsed = _parse_time(value)
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
        self.commands.append(WaitUntil(ctx.prefix + info.step.id, info.step.id, due, "time.wait"))
        return None

    def _human_task(self, ctx: Ctx, info: StepInfo, now: datetime) -> None:
        config = info.config
        frame = ctx.frame
        attempt = frame.get("n", 1)
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info, attempt)
        values = info.values
        title = _text(self._eval(values["title"], envelope, now, seed)) or ""
        description = _text(self._eval(values["description"], envelope, now, seed))
        assignee = _text(self._eval(values["assignee"], envelope, now, seed))
        timeout = config.timeout_ms or info.step.timeout_ms
        due = now + timedelta(milliseconds=timeout) if timeout else None
        the_task = task_id(self.run_id, self._identity(ctx), attempt)
        frame["st"] = "task"
        frame["in"] = {"taskId": the_task, "title": title, "assignee": assignee}
        if due is not None:
            frame["due"] = iso(due)
        if "t0" not in frame:
            frame["t0"] = _ms(now)
        self.commands.append(
            CreateTask(
                ctx.prefix + info.step.id,
                info.step.id,
                title,
                description,
                assignee,
                config.form_schema,
                due,
                the_task,
            )
        )
        return None

    def _emit(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
        config = info.config
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info)
        key = _key_string(self._eval(info.values["key"], envelope, now, seed))
        payload = self._eval(info.values["payload"], envelope, now, seed)
        the_event = event_id(self.run_id, self._identity(ctx))
        self.commands.append(EmitEvent(info.step.id, the_event, config.event_name, key, payload))
        detail = {"eventId": the_event, "name": config.event_name, "key": key}
        self._hist(ctx, info, "succeeded", now, input=payload, output=detail)
        return self._next(ctx)

    def _unknown(self, ctx: Ctx, info: StepInfo, now: datetime) -> None:
        raise StepFailure(VALIDATION, info.problem or f"unknown step type {info.type!r}")

    # ------------------------------------------------------------------ node failures

    def _node_error(
        self, ctx: Ctx, info: StepInfo, category: str, message: str, now: datetime
    ) -> Ctx | None:
        error = make_error(category, message, info.step.id, ctx.frame.get("n", 1), now)
        return self._node_failed(ctx, info, error, now)

    def _node_failed(
        self,
        ctx: Ctx,
        info: StepInfo,
        error: JSONObject,
        now: datetime,
        *,
        retryable: Any = None,
        retry_after: Any = None,
    ) -> Ctx | None:
        frame = ctx.frame
        attempt = frame.get("n", 1)
        policy = self._policy(info)
        if policy is not None:
            now_ms = _ms(now)
            token = ctx.prefix + info.step.id
            delay = retry_delay(
                policy,
                error["category"],
                retryable=retryable if isinstance(retryable, bool) else None,
                retry_after_ms=retry_after if isinstance(retry_after, (int, float)) else None,
                attempt=attempt,
                run_id=self.run_id,
                token=token,
                now_ms=now_ms,
                first_ms=frame.get("t0", now_ms),
            )
            if delay is not None:
                self._hist(
                    ctx,
                    info,
                    "retrying",
                    now,
                    attempt=attempt,
                    input=frame.pop("in", None),
                    error=error,
                )
                frame.pop("st", None)
                frame.pop("due", None)
                frame["n"] = attempt + 1
                frame.setdefault("t0", now_ms)
                if delay <= 0:
                    return ctx
                due = now + timedelta(milliseconds=delay)
                frame["st"] = "retry"
                frame["due"] = iso(due)
                self.commands.append(WaitUntil(token, info.step.id, due, "retry"))
                return None
        inputs = frame.pop("in", None)
        if info.step.on_error == "continue":
            self._hist(ctx, info, "continued", now, attempt=attempt, input=inputs, error=error)
            self.env["meta"] = {**self.env["meta"], "lastError": error}
            return self._next(ctx)
        self._hist(ctx, info, "failed", now, attempt=attempt, input=inputs, error=error)
        frame["st"] = "failed"
        return self._fail(ctx, error, now)

    def _policy(self, info: StepInfo) -> RetryPolicy | None:
        policy = info.step.retry
        if policy is None and info.kind == ACTION and self.action_retry is not None:
            found = self.action_retry(info.config.action_id, info.config.version)
            if isinstance(found, dict):
                found = RetryPolicy.model_validate(found)
            policy = found if isinstance(found, RetryPolicy) else None
        return policy

    def _step_failed(
        self,
        ctx: Ctx,
        info: StepInfo,
        category: str,
        message: str,
        data: Any,
        now: datetime,
    ) -> Ctx | None:
        if info.kind < _NODE_LIMIT:
            error = make_error(category, message, info.step.id, ctx.frame.get("n", 1), now, data)
            return self._node_failed(ctx, info, error, now)
        error = make_error(category, message, info.step.id, 1, now, data)
        self._hist(ctx, info, "failed", now, error=error)
        # A control step that failed while starting holds no children: drop what it began.
        frame = ctx.frame
        frame.clear()
        frame["s"] = info.step.id
        frame["st"] = "failed"
        return self._fail(ctx, error, now)

    # ------------------------------------------------------------------ control steps

    def _enter(self, ctx: Ctx, first: str | None, branch: str) -> Ctx:
        if first is None:
            return self._next(ctx)
        frame = ctx.frame
        child: JSONObject = {"s": first}
        frame["b"] = branch
        frame["c"] = child
        return Ctx(child, ctx, ctx.holder, ctx.key, ctx.error, ctx.prefix, None)

    def _if(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
        condition = info.conditions[0][1]
        matched = self._eval(condition, self._envelope(ctx), now, self._seed(ctx, info))
        branch = "then" if matched else "else"
        self._hist(ctx, info, "succeeded", now, output={"branch": branch})
        return self._enter(ctx, info.first[branch], branch)

    def _switch(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info)
        branch = "default"
        for case_id, condition in info.conditions:
            if self._eval(condition, envelope, now, seed):
                branch = case_id
                break
        self._hist(ctx, info, "succeeded", now, output={"branch": branch})
        return self._enter(ctx, info.first[branch], branch)

    def _try(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
        if info.first["try"] is None:
            self._hist(ctx, info, "succeeded", now)
        return self._enter(ctx, info.first["try"], "try")

    def _for_each(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
        step = info.step
        items = self._eval(info.values["items"], self._envelope(ctx), now, self._seed(ctx, info))
        if items is None:
            items = []
        elif not isinstance(items, list):
            items = [items]
        if not items:
            return self._loop_done(ctx, info, [], now)
        count = len(items)
        frame = ctx.frame
        frame["items"] = items
        frame["nx"] = 0
        frame["it"] = {}
        frame["res"] = [None] * count
        frame["left"] = count
        for _ in range(min(step.concurrency, count)):
            self.queue.append((self._start_iteration(ctx, info), now))
        return None

    def _start_iteration(self, ctx: Ctx, info: StepInfo) -> Ctx:
        frame = ctx.frame
        index = frame["nx"]
        frame["nx"] = index + 1
        step = info.step
        scope = dict(ctx.holder[ctx.key])
        scope[step.item_var] = frame["items"][index]
        scope[step.item_var + "Index"] = index
        child: JSONObject = {"s": info.first["body"]}
        record = {"v": scope, "c": child}
        frame["it"][str(index)] = record
        return Ctx(child, ctx, record, "v", ctx.error, f"{ctx.prefix}{step.id}[{index}]/", index)

    def _iteration_done(
        self, ctx: Ctx, info: StepInfo, index: int, value: Any, now: datetime
    ) -> Ctx | None:
        frame = ctx.frame
        frame["res"][index] = value
        del frame["it"][str(index)]
        frame["left"] -= 1
        if frame["nx"] < len(frame["items"]):
            return self._start_iteration(ctx, info)
        if frame["left"]:
            return None
        return self._loop_done(ctx, info, frame["res"], now)

    def _loop_done(self, ctx: Ctx, info: StepInfo, results: list[Any], now: datetime) -> Ctx:
        if info.save_as is not None:
            self._write(ctx, info.save_as, results)
        self._hist(ctx, info, "succeeded", now, output=results)
        return self._next(ctx)

    def _parallel(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
        step = info.step
        frame = ctx.frame
        scope = ctx.holder[ctx.key]  # shared: writes copy (see state.put)
        branches: JSONObject = {}
        started: list[Ctx] = []
        for branch in step.branches:
            record: JSONObject = {"v": scope}
            first = info.first[branch.id]
            if first is not None:
                child: JSONObject = {"s": first}
                record["c"] = child
                prefix = f"{ctx.prefix}{step.id}:{branch.id}/"
                started.append(Ctx(child, ctx, record, "v", ctx.error, prefix, branch.id))
            branches[branch.id] = record
        frame["br"] = branches
        if not started:
            return self._parallel_done(ctx, info, now)
        frame["left"] = len(started)
        for branch_ctx in started:
            self.queue.append((branch_ctx, now))
        return None

    def _parallel_done(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
        branches = ctx.frame["br"]
        result = {branch.id: branches[branch.id]["v"] for branch in info.step.branches}
        if info.save_as is not None:
            self._write(ctx, info.save_as, result)
        self._hist(ctx, info, "succeeded", now, output=result)
        return self._next(ctx)

    def _call(self, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
        step = info.step
        envelope = self._envelope(ctx)
        payload = self._eval(info.values["input"], envelope, now, self._seed(ctx, info))
        child_id = child_run_id(self.run_id, self._identity(ctx))
        token = ctx.prefix + step.id
        self.commands.append(
            StartChild(
                token, step.id, child_id, step.workflow_key, step.version, payload, step.wait
            )
        )
        detail = {"runId": child_id, "workflowKey": step.workflow_key, "version": step.version}
        if step.wait:
            ctx.frame["st"] = "child"
            ctx.frame["in"] = detail
            return None
        result = {"runId": child_id}
        if info.save_as is not None:
            self._write(ctx, info.save_as, result)
        self._hist(ctx, info, "succeeded", now, input=detail, output=result)
        return self._next(ctx)

    def _return(self, ctx: Ctx, info: StepInfo, now: datetime) -> None:
        envelope = self._envelope(ctx)
        seed = self._seed(ctx, info)
        evaluator = info.values.get("output") or self.program.output
        value = self._eval(evaluator, envelope, now, seed) if evaluator is not None else None
        self._hist(ctx, info, "succeeded", now, output=value)
        self._succeed(value, now, ctx.frame)
        return None

    def _fail_step(self, ctx: Ctx, info: StepInfo, now: datetime) -> None:
        step = info.step
        message = self._eval(
            info.values["message"], self._envelope(ctx), now, self._seed(ctx, info)
        )
        raise StepFailure(step.category, _text(message) or "")

    # ------------------------------------------------------------------ pipelines and errors

    def _pipeline_done(self, ctx: Ctx, now: datetime) -> Ctx | None:
        parent = ctx.parent
        if parent is None:
            return self._finish(ctx, now)
        info = self.steps[parent.frame["s"]]
        kind = info.kind
        if kind == FOREACH:
            value = None
            collect = info.values.get("collect")
            if collect is not None:
                try:
                    value = self._eval(collect, self._envelope(ctx), now, self._seed(parent, info))
                except Exception as exc:
                    return self._end_of_pipeline_failed(ctx, info, exc, now)
            return self._iteration_done(parent, info, ctx.slot, value, now)
        if kind == PARALLEL:
            frame = parent.frame
            del frame["br"][ctx.slot]["c"]
            frame["left"] -= 1
            if frame["left"]:
                return None
            return self._parallel_done(parent, info, now)
        if kind == TRY:
            self._hist(parent, info, "succeeded", now)
        return self._next(parent)

    def _end_of_pipeline_failed(
        self, ctx: Ctx, info: StepInfo | None, exc: Exception, now: datetime
    ) -> Ctx | None:
        """``collect`` or the definition's ``output`` failed to evaluate."""
        if isinstance(exc, ExpressionError):
            category, message = EXPRESSION, exc.message
            data: Any = {"expression": exc.expression, "position": exc.position}
        elif RAISE_INTERNAL_ERRORS:
            raise exc
        else:
            category, message, data = VALIDATION, f"internal error: {exc!r}", None
        step_id = info.step.id if info is not None else None
        error = make_error(category, message, step_id, 1, now, data)
        if info is not None:
            self._hist(ctx, info, "failed", now, error=error, token=ctx.token)
        ctx.frame["st"] = "failed"
        return self._fail(ctx, error, now)

    def _finish(self, ctx: Ctx, now: datetime) -> None:
        value = None
        if self.program.output is not None:
            try:
                value = self._eval(self.program.output, self._envelope(ctx), now, None)
            except Exception as exc:
                self._end_of_pipeline_failed(ctx, None, exc, now)
                return None
        self._succeed(value, now, None)
        return None

    def _fail(self, ctx: Ctx, error: JSONObject, now: datetime) -> Ctx | None:
        """Hand an unhandled step error to the nearest handler, or fail the run."""
        child = ctx
        while child.parent is not None:
            parent = child.parent
            info = self.steps[parent.frame["s"]]
            if info.kind == TRY and parent.frame.get("b") == "try":
                self._abandon(child, now)
                return self._catch(parent, info, error, now)
            if info.kind == FOREACH and info.step.on_item_error == "continue":
                self._abandon(child, now)
                return self._iteration_done(parent, info, child.slot, {"error": error}, now)
            child = parent
        self._end_failure(ctx, error, now)
        return None

    def _catch(self, ctx: Ctx, info: StepInfo, error: JSONObject, now: datetime) -> Ctx:
        self._hist(ctx, info, "caught", now, error=error)
        if info.save_as is not None:
            self._write(ctx, info.save_as, error)
        frame = ctx.frame
        first = info.first["catch"]
        if first is None:
            self._hist(ctx, info, "succeeded", now)
            return self._next(ctx)
        child: JSONObject = {"s": first}
        frame["b"] = "catch"
        frame["e"] = error
        frame["c"] = child
        return Ctx(child, ctx, ctx.holder, ctx.key, error, ctx.prefix, None)

    def _abandon(self, start: Ctx, now: datetime, *, mark: bool = True, keep: Any = None) -> None:
        """Cancel every position below ``start``: parked ones get a CancelWait."""
        for ctx in walk(start):
            frame = ctx.frame
            if mark:
                frame["dead"] = True
            if frame is keep or not is_leaf(frame):
                continue
            status = frame.get("st")
            if status in PARKED:
                self.commands.append(CancelWait(ctx.token))
            elif status != "call":
                continue
            info = self.steps.get(frame.get("s") or "")
            if info is not None:
                inputs = frame.get("in")
                self._hist(ctx, info, "skipped", now, attempt=frame.get("n", 1), input=inputs)

    def _succeed(self, value: Any, now: datetime, keep: Any) -> None:
        start = root_ctx(self.state)
        if start is not None:
            self._abandon(start, now, mark=False, keep=keep)
        state = self.state
        state["root"] = None
        state["status"] = "SUCCEEDED"
        state["output"] = value
        self._stop()

    def _end_failure(self, ctx: Ctx, error: JSONObject, now: datetime) -> None:
        start = root_ctx(self.state)
        if start is not None:
            self._abandon(start, now, mark=False)
        state = self.state
        state["status"] = "FAILED"
        state["failed"] = {"token": ctx.token, "stepId": error.get("stepId")}
        self.env["error"] = error
        self._stop()

    def _stop(self) -> None:
        self.ended = True
        self.queue.clear()


_Handler = Callable[[_Machine, Ctx, StepInfo, datetime], "Ctx | None"]
_HANDLERS: dict[int, _Handler] = {
    STATE_SET: _Machine._state_set,
    ASSIGN: _Machine._assign,
    ACTION: _Machine._action,
    EVENT_WAIT: _Machine._event_wait,
    TIME_WAIT: _Machine._time_wait,
    HUMAN_TASK: _Machine._human_task,
    EMIT: _Machine._emit,
    UNKNOWN_NODE: _Machine._unknown,
    IF: _Machine._if,
    SWITCH: _Machine._switch,
    FOREACH: _Machine._for_each,
    PARALLEL: _Machine._parallel,
    TRY: _Machine._try,
    CALL: _Machine._call,
    RETURN: _Machine._return,
    FAIL: _Machine._fail_step,
}


def _filter_source(value: Any) -> str | None:
    if value is None or value is True:
        return None
    if value is False:
        return "false"
    if is_expr(value):
        source = value["$expr"]
    elif isinstance(value, str):
        source = value
    else:
        raise StepFailure(VALIDATION, "event.wait filter must be a JSONata expression")
    compile_expression(source)
    return source


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return _parse_iso(value)
