"""One ``advance``: a ``Machine`` owns a copy of the state, runs positions until each is
blocked, and collects the commands and history rows of the outcome.

Execution is a loop over *contexts* (``state.Ctx``: a pipeline frame plus the scope its token
sees), never recursion, so nesting depth and pipeline length cost no Python stack. Positions that
can run concurrently (forEach iterations, parallel branches) are queued and run one after another
until each blocks; the order is fixed by the definition and the inputs, so the outcome is too.

The machine is the scheduler and the context of the step handlers, which are plain functions
found in two tables: ``STEPS`` (step kind → start the step at a position) and ``RESUMES`` (input
type → resume the position the input names). A handler returns the context to run next in the
same turn, or ``None`` when its position is blocked (or left to the queue). Handlers live with
their idea: ``nodes`` (node steps), ``control`` (control steps and the ends of their
pipelines), ``ladder`` (where a failed step's error goes). They use the methods below the
"what handlers use" line; their imports point one way (nodes → ladder → control), and control
hands a failure to the ladder through ``Machine.fail``.

Decisions recorded here:

- Parked positions that an error, a ``control.return`` or a failed run abandons get a
  ``CancelWait`` and a ``skipped`` history row; in-flight action calls get the row only (their
  result, when it comes, no longer finds its position and is ignored).
- ``limit.steps`` (``max_steps``) holds as the run goes: the run fails when the history rows
  counted in the state's ``hs`` plus the rows and commands of this advance go past it, and the
  commands of that advance are dropped. The failure is the engine's: no tryCatch catches it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from flowpin.definitions.models import RetryPolicy
from flowpin.errors import ExpressionError
from flowpin.expressions.jsonata import Limits
from flowpin.expressions.paths import PathError
from flowpin.runtime import control, ladder, nodes
from flowpin.runtime._utils import from_ms, ms, run_envelope
from flowpin.runtime.decisions import (
    ActionResult,
    CancelWait,
    ChildFinished,
    Command,
    HistoryEntry,
    Input,
    Outcome,
    RunInfo,
    WaitResolved,
)
from flowpin.runtime.evaluators import Evaluator
from flowpin.runtime.failures import EXPRESSION, VALIDATION, StepFailure, make_error
from flowpin.runtime.ids import expression_seed, identity
from flowpin.runtime.program import Program, StepInfo
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
from flowpin.types import TERMINAL_STATUSES, JSONObject, RunStatus

ActionRetry = Callable[[str, int], "RetryPolicy | JSONObject | None"]
"""Looks up an action's default retry policy by ``(action_id, version)``."""

StepHandler = Callable[["Machine", Ctx, StepInfo, datetime], "Ctx | None"]
"""Starts the step ``info`` at the position ``ctx`` at logical time ``now``."""

RAISE_INTERNAL_ERRORS = False
"""Tests set this to see interpreter bugs as exceptions; in production an unexpected exception
inside a step fails that step with a ValidationError naming it, instead of wedging the run."""

STEPS: dict[int, StepHandler] = {**nodes.STARTS, **control.STARTS}
"""Every step kind (``program``'s constants) → the function that starts it."""

RESUMES: dict[type[Any], Callable[[Machine, Ctx, StepInfo, Any, datetime], Ctx | None]] = {
    ActionResult: nodes.action_result,
    WaitResolved: nodes.wait_resolved,
    ChildFinished: control.child_finished,
}
"""Every input type → the function that resumes the position it names (or ignores an input
that position is not waiting for, returning ``None``)."""


class Machine:
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
        self.raise_internal = RAISE_INTERNAL_ERRORS
        self.generation: int = state.get("g", 0)
        self.commands: list[Command] = []
        self.history: list[HistoryEntry] = []
        self.queue: deque[tuple[Ctx, datetime]] = deque()
        """Positions to run after the current one blocks (forEach iterations, branches)."""
        self.ended = state.get("status") in TERMINAL_STATUSES
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

    # ------------------------------------------------------------------ the scheduler

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
            state["t"] = max(self.epoch_ms(latest), state.get("t") or 0)
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
            frame["y"] = [self.epoch_ms(at), rank]
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
        """Run the position ``ctx`` and the ones its steps lead to until it blocks."""
        steps = self.steps
        handlers = STEPS
        pipeline_done = control.pipeline_done
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
                ctx = pipeline_done(self, ctx, now)
                continue
            info = steps.get(step_id)
            if info is None:
                # Only a bad migration mapping can put a position on a step this version lacks.
                message = f"step {step_id!r} is not in this version of the workflow"
                ctx.frame["st"] = "failed"
                self.end_failure(ctx, make_error(VALIDATION, message, step_id, 1, now), now)
                return
            try:
                if info.problem is not None:
                    raise StepFailure(VALIDATION, info.problem)
                ctx = handlers[info.kind](self, ctx, info, now)
            except ExpressionError as exc:
                data = {"expression": exc.expression, "position": exc.position}
                ctx = ladder.step_failed(self, ctx, info, EXPRESSION, exc.message, data, now)
            except StepFailure as exc:
                ctx = ladder.step_failed(self, ctx, info, exc.category, exc.message, exc.data, now)
            except PathError as exc:
                ctx = ladder.step_failed(self, ctx, info, VALIDATION, str(exc), None, now)
            except Exception as exc:
                if self.raise_internal:
                    raise
                message = f"internal error in {info.type} step: {exc!r}"
                ctx = ladder.step_failed(self, ctx, info, VALIDATION, message, None, now)

    def _deliver(self, item: Input) -> None:
        """Resume the position ``item`` names, if it is still waiting for it."""
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
        info = self.steps.get(ctx.frame["s"])
        resume = RESUMES.get(type(item))
        if info is None or resume is None:
            return
        self._exec(resume(self, ctx, info, item, item.at), item.at)

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
            self.end_failure(ctx, error, now)
        else:
            self.state["status"] = RunStatus.FAILED.value
            self.env["error"] = error
            self._stop()
        self.commands = []

    def _stop(self) -> None:
        self.ended = True
        self.queue.clear()

    # ------------------------------------------------------------------ what handlers use

    def envelope(self, ctx: Ctx) -> JSONObject:
        """What the expressions of a step at ``ctx`` see."""
        env = self.env
        return {
            "payload": env["payload"],
            "vars": ctx.holder[ctx.key],
            "meta": env["meta"],
            "error": ctx.error,
            "run": self.run_env,
        }

    def seed(self, ctx: Ctx, info: StepInfo, attempt: int = 1) -> int | None:
        """The ``$random()`` seed of the step, ``None`` when its expressions draw none."""
        if not info.uses_random:
            return None
        return expression_seed(self.run_id, ctx.prefix + info.step.id, attempt)

    def evaluate(
        self, evaluator: Evaluator, envelope: JSONObject, now: datetime, seed: int | None
    ) -> Any:
        return evaluator(envelope, self.epoch_ms(now), seed, self.limits)

    def epoch_ms(self, now: datetime) -> int:
        """``now`` in epoch ms, computed once per distinct logical time."""
        if now is not self.now_at:
            self.now_at = now
            self.now_ms = ms(now)
        return self.now_ms

    def identity_of(self, ctx: Ctx) -> str:
        """The identity the ids of the step at ``ctx`` derive from (``ids.identity``)."""
        return identity(ctx.prefix + ctx.frame["s"], ctx.frame.get("g", self.generation))

    def write(self, ctx: Ctx, segments: tuple[str, ...], value: Any) -> None:
        """Set ``value`` at a parsed ``saveAs`` path (``vars`` of the position's scope, or the
        run's ``meta``/``payload``), copying the containers along the path."""
        root = segments[0]
        if root == "vars":
            holder = ctx.holder
            holder[ctx.key] = put(holder[ctx.key], segments, 1, value)
        else:
            env = self.env
            env[root] = put(env[root], segments, 1, value)

    def next_step(self, ctx: Ctx) -> Ctx:
        """Move the position on to the following step of its pipeline (``None`` at its end)."""
        frame = ctx.frame
        following = self.steps[frame["s"]].next
        frame.clear()
        frame["s"] = following
        return ctx

    def record(
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
        """Add a history row for the step ``info`` at ``ctx``."""
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

    def record_resumed(
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
        """The history row of a step whose attempt succeeded after it waited (for a wait,
        ``started`` defaults to when it parked)."""
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

    def fail(self, ctx: Ctx, error: JSONObject, now: datetime) -> Ctx | None:
        """The position ``ctx`` failed with ``error`` past its own step's rungs: hand it up the
        failure ladder (``ladder.escalate``)."""
        return ladder.escalate(self, ctx, error, now)

    # ------------------------------------------------------------------ how the run ends

    def succeed(self, value: Any, now: datetime, keep: Any) -> None:
        """End the run SUCCEEDED with output ``value``; every other position is abandoned
        (``keep``: the frame of the ``control.return`` that ends it, which needs no row)."""
        start = root_ctx(self.state)
        if start is not None:
            self.abandon(start, now, mark=False, keep=keep)
        state = self.state
        state["root"] = None
        state["status"] = RunStatus.SUCCEEDED.value
        state["output"] = value
        self._stop()

    def end_failure(self, ctx: Ctx, error: JSONObject, now: datetime) -> None:
        """End the run FAILED with ``error`` at ``ctx``; the frames are kept for a retry."""
        start = root_ctx(self.state)
        if start is not None:
            self.abandon(start, now, mark=False)
        state = self.state
        state["status"] = RunStatus.FAILED.value
        state["failed"] = {"token": ctx.token, "stepId": error.get("stepId")}
        self.env["error"] = error
        self._stop()

    def abandon(self, start: Ctx, now: datetime, *, mark: bool = True, keep: Any = None) -> None:
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
                self.record(ctx, info, "skipped", now, attempt=frame.get("n", 1), input=inputs)
