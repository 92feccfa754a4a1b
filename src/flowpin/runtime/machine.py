"""The executor behind ``advance``: one ``Machine`` per call owns a copy of the state, runs
positions until each is blocked, and collects commands and history rows.

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

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from flowpin.definitions.models import RetryPolicy
from flowpin.errors import ExpressionError
from flowpin.expressions.jsonata import Limits
from flowpin.expressions.paths import PathError
from flowpin.runtime._utils import from_ms, ms, run_envelope, text
from flowpin.runtime.decisions import (
    ActionResult,
    CancelWait,
    ChildFinished,
    Command,
    HistoryEntry,
    Input,
    Outcome,
    RunInfo,
    StartChild,
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
    expression_seed,
    identity,
)
from flowpin.runtime.nodes import NodeSteps
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
)
from flowpin.runtime.retry import retry_delay
from flowpin.runtime.state import (
    PARKED,
    Ctx,
    is_leaf,
    leaf_frames,
    leaves,
    put,
    root_ctx,
    route,
    walk,
)
from flowpin.types import JSONObject, RunStatus

ActionRetry = Callable[[str, int], "RetryPolicy | JSONObject | None"]
"""Looks up an action's default retry policy by ``(action_id, version)``."""

RAISE_INTERNAL_ERRORS = False
"""Tests set this to see interpreter bugs as exceptions; in production an unexpected exception
inside a step fails that step with a ValidationError naming it, instead of wedging the run."""

_NODE_LIMIT = 10  # kinds below are node steps
_CHILD_ENDS = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})


class Machine(NodeSteps):
    """One ``advance``: owns the (copied) state and collects commands and history."""

    def __init__(
        self,
        program: Program,
        state: JSONObject,
        run: RunInfo,
        limits: Limits,
        action_retry: ActionRetry | None,
        should_yield: Callable[[], bool] | None = None,
        max_steps: int | None = None,
    ) -> None:
        self.program = program
        self.steps = program.steps
        self.state = state
        self.env: JSONObject = state["envelope"]
        self.run = run
        self.run_id = run.run_id
        self.run_env = run_envelope(run)
        self.limits = limits
        self.action_retry = action_retry
        self.generation: int = state.get("g", 0)
        self.commands: list[Command] = []
        self.history: list[HistoryEntry] = []
        self.queue: deque[tuple[Ctx, datetime]] = deque()
        self.ended = state.get("status") in ("SUCCEEDED", "FAILED", "CANCELED")
        self.now_at: datetime | None = None
        self.now_ms = 0
        self.should_yield = should_yield
        self.ran = 0
        """Loop turns of ``_exec`` in this advance (a step, or the end of a pipeline)."""
        self.suspended: list[tuple[Ctx, datetime]] = []
        """Positions left to run when ``should_yield`` said so, in the order they were due."""
        self.max_steps = max_steps
        self.budget = None if max_steps is None else max_steps - int(state.get("hs", 0))
        """Steps this advance may record or start (history rows plus commands issued) before
        the run fails with ``limit.steps``: the limit holds as the run goes, so a long loop
        stops at the limit instead of doing all its work and failing afterwards."""

    # ------------------------------------------------------------------ driving

    def advance(self, inputs: Sequence[Input], now: datetime | None) -> Outcome:
        if self.ended:
            return self._outcome()
        state = self.state
        if state.pop("pending", False):
            start = now or from_ms(state.get("t")) or self.run.started_at
            fresh = [c for c in leaves(state) if c.frame.get("st") == "new"]
            if any("y" in c.frame for c in fresh):  # left by a yield: keep their order
                fresh.sort(key=lambda c: c.frame["y"][1] if "y" in c.frame else -1)
            for ctx in fresh:
                frame = ctx.frame
                del frame["st"]
                left = frame.pop("y", None)
                self.queue.append((ctx, from_ms(left[0]) if left else start))
            self._drain()
            state["t"] = ms(start)
        for item in inputs:
            if self.ended:
                break
            self._deliver(item)
            self._drain()
        if inputs:
            latest = inputs[0].at if len(inputs) == 1 else max(item.at for item in inputs)
            state["t"] = max(self._ms(latest), state.get("t") or 0)
        if self.suspended and not self.ended:
            self._leave_runnable()
        if self.budget is not None and not self.ended:
            self._check_budget(None, now or self.run.started_at)
        return self._outcome()

    def _leave_runnable(self) -> None:
        """Mark the positions a yield left as ``new``, with their logical time and order
        (``y``: [epoch ms, rank]), for the next ``advance`` to start."""
        for rank, (ctx, at) in enumerate(self.suspended):
            frame = ctx.frame
            if "dead" in frame:
                continue
            frame["st"] = "new"
            frame["y"] = [self._ms(at), rank]
        self.state["pending"] = True

    def _drain(self) -> None:
        queue = self.queue
        while queue and not self.ended:
            ctx, now = queue.popleft()
            if "dead" in ctx.frame:
                continue
            if self.suspended:
                self.suspended.append((ctx, now))
                continue
            self._exec(ctx, now)

    def _exec(self, ctx: Ctx | None, now: datetime) -> None:
        steps = self.steps
        handlers = _HANDLERS
        should_yield = self.should_yield
        budget = self.budget
        while ctx is not None and not self.ended:
            if budget is not None and len(self.history) + len(self.commands) > budget:
                self._check_budget(ctx, now)
                return
            if should_yield is not None:
                if self.suspended or (self.ran and should_yield()):
                    self.suspended.append((ctx, now))
                    return
                self.ran += 1
            step_id = ctx.frame["s"]
            if step_id is None:
                ctx = self._pipeline_done(ctx, now)
                continue
            info = steps.get(step_id)
            if info is None:
                # Only a bad migration mapping can put a position on a step this version lacks.
                message = f"step {step_id!r} is not in this version of the workflow"
                ctx.frame["st"] = "failed"
                self._end_failure(ctx, make_error(VALIDATION, message, step_id, 1, now), now)
                return
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
            current = [root["s"]] if root["s"] is not None else []
        else:
            calling = False
            steps = set()
            for frame in leaf_frames(root):
                if frame.get("st") == "call":
                    calling = True
                if frame["s"] is not None:
                    steps.add(frame["s"])
            current = sorted(steps)
        yielded = bool(self.suspended)
        status = RunStatus.RUNNING if calling or yielded else RunStatus.WAITING
        state["status"] = status.value
        return Outcome(
            state, status, self.commands, self.history, current_steps=current, yielded=yielded
        )

    # ------------------------------------------------------------------ inputs

    def _deliver(self, item: Input) -> None:
        ctx = route(self.state, item.token)
        if ctx is None:
            # An input addressed to where the position was before a migration moved it (a
            # wait claimed while the run moved): deliver it where the position is now.
            moved = self.state.get("mv")
            if not moved or item.token not in moved:
                return
            item = replace(item, token=moved[item.token])
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
                frame.pop("due", None)
                after = ctx
            elif kind == "timer" and status == "timer":
                due = frame.get("due")
                self._done(ctx, info, now, None, input={"dueAt": due}, detail=item.detail)
                after = self._next(ctx)
            elif kind == "event" and status == "event":
                after = self._event_received(ctx, info, item, now)
            elif kind == "timeout" and status == "event":
                after = self._event_timeout(ctx, info, now)
            elif kind == "task" and status == "task":
                if info.save_as is not None:
                    self._write(ctx, info.save_as, item.data)
                self._done(ctx, info, now, item.data, detail=item.detail)
                after = self._next(ctx)
            elif kind == "timeout" and status == "task":
                message = f"human task {info.step.id!r} was not completed in time"
                after = self._node_error(ctx, info, TIMEOUT, message, now)
            else:
                return
        elif isinstance(item, ChildFinished):
            if status != "child" or item.status not in _CHILD_ENDS:
                return
            after = self._child_finished(ctx, info, item, now)
        else:
            return
        self._exec(after, now)

    def _child_finished(
        self, ctx: Ctx, info: StepInfo, item: ChildFinished, now: datetime
    ) -> Ctx | None:
        if item.status == RunStatus.SUCCEEDED:
            if info.save_as is not None:
                self._write(ctx, info.save_as, item.output)
            self._done(ctx, info, now, item.output)
            return self._next(ctx)
        child_id = child_run_id(self.run_id, self._identity(ctx))
        child_error = item.error if isinstance(item.error, dict) else {}
        message = f"child run {child_id} {str(item.status).lower()}"
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
        return evaluator(envelope, self._ms(now), seed, self.limits)

    def _ms(self, now: datetime) -> int:
        """``now`` in epoch ms, computed once per distinct logical time."""
        if now is not self.now_at:
            self.now_at = now
            self.now_ms = ms(now)
        return self.now_ms

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
        started: datetime | None = None,
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
                started,
            )
        )

    def _done(
        self,
        ctx: Ctx,
        info: StepInfo,
        now: datetime,
        output: Any,
        *,
        input: Any = None,
        started: datetime | None = None,
        detail: JSONObject | None = None,
    ) -> None:
        """The history row of a node step whose attempt succeeded after it waited (for a
        wait, ``started`` defaults to when it parked)."""
        frame = ctx.frame
        if started is None and "t0" in frame:
            started = from_ms(frame["t0"])
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
                started,
                detail,
            )
        )

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
        started: datetime | None = None,
    ) -> Ctx | None:
        frame = ctx.frame
        attempt = frame.get("n", 1)
        if started is None and "t0" in frame and info.kind != ACTION:
            started = from_ms(frame["t0"])  # a wait that timed out: it began when it parked
        policy = self._policy(info)
        if policy is not None:
            now_ms = ms(now)
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
                    started=started,
                )
                frame.pop("st", None)
                frame.pop("due", None)
                frame.pop("k", None)
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
        frame.pop("k", None)
        if info.step.on_error == "continue":
            self._hist(
                ctx,
                info,
                "continued",
                now,
                attempt=attempt,
                input=inputs,
                error=error,
                started=started,
            )
            self.env["meta"] = {**self.env["meta"], "lastError": error}
            return self._next(ctx)
        self._hist(
            ctx, info, "failed", now, attempt=attempt, input=inputs, error=error, started=started
        )
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
        raise StepFailure(step.category, text(message) or "")

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

    def _check_budget(self, ctx: Ctx | None, now: datetime) -> None:
        """Fail the run with ``limit.steps`` when this advance went past its budget; the
        commands it issued are dropped (no call is made past the limit). The failure is the
        engine's, not a step's, so no tryCatch can swallow it."""
        assert self.budget is not None and self.max_steps is not None
        used = len(self.history) + len(self.commands)
        if used <= self.budget:
            return
        count = self.max_steps - self.budget + used
        if ctx is not None:
            step_id = ctx.frame["s"]
        else:
            step_id = self.history[-1].step_id if self.history else None
        ctx = ctx or root_ctx(self.state)
        error: JSONObject = {
            "category": "LimitError",
            "code": "limit.steps",
            "message": f"the run recorded {count} steps; the limit is {self.max_steps} per run",
            "stepId": step_id,
            "data": {"limit": self.max_steps, "steps": count},
        }
        if ctx is not None:
            self._end_failure(ctx, error, now)
        else:
            self.state["status"] = "FAILED"
            self.env["error"] = error
            self._stop()
        self.commands = []

    def _stop(self) -> None:
        self.ended = True
        self.queue.clear()


_Handler = Callable[[Machine, Ctx, StepInfo, datetime], "Ctx | None"]
_HANDLERS: dict[int, _Handler] = {
    STATE_SET: Machine._state_set,
    ASSIGN: Machine._assign,
    ACTION: Machine._action,
    EVENT_WAIT: Machine._event_wait,
    TIME_WAIT: Machine._time_wait,
    HUMAN_TASK: Machine._human_task,
    EMIT: Machine._emit,
    UNKNOWN_NODE: Machine._unknown,
    IF: Machine._if,
    SWITCH: Machine._switch,
    FOREACH: Machine._for_each,
    PARALLEL: Machine._parallel,
    TRY: Machine._try,
    CALL: Machine._call,
    RETURN: Machine._return,
    FAIL: Machine._fail_step,
}
