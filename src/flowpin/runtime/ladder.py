"""The failure ladder (SPEC §4.3): where the error of a failed step goes, rung by rung.

1. A node step is retried under its ``retry`` policy (else its action's default policy, from
   ``advance(..., action_retry=)``), as ``retry.retry_delay`` decides: a ``WaitUntil`` with
   reason ``retry`` parks the position until the next attempt.
2. Else a node step with ``onError: "continue"`` is ``continued``: the run goes on after it.
3. Else the error climbs the position's enclosing steps to the nearest ``control.tryCatch``
   in its ``try`` pipe (which runs its ``catch`` pipe) or ``control.forEach`` with
   ``onItemError: "continue"`` (whose item yields ``{"error": …}``); the positions below the
   handler are abandoned.
4. Else the run fails (``Machine.end_failure``).

A control step that fails (its own expression, a ``control.fail``, a failed child run) starts
at rung 3. Errors are data in the shape of ``failures.make_error``.

Decisions recorded here:

- A step that fails under ``onError: "continue"`` leaves ``saveAs`` untouched and sets
  ``meta.lastError`` to the error.
- A retry whose delay is 0 runs the next attempt at once, without a timer.
- ``totalBudgetMs``: a retry is made only if the next attempt would start within the budget,
  counted from the first attempt's logical time (the frame's ``t0``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flowpin.definitions.models import RetryPolicy
from flowpin.runtime._utils import from_ms, ms
from flowpin.runtime.control import catch, iteration_done
from flowpin.runtime.decisions import WaitUntil
from flowpin.runtime.failures import iso, make_error
from flowpin.runtime.program import ACTION, FOREACH, NODE_STEP_KINDS, TRY, StepInfo
from flowpin.runtime.retry import retry_delay
from flowpin.runtime.state import Ctx
from flowpin.types import JSONObject

if TYPE_CHECKING:
    from flowpin.runtime.machine import Machine


def step_failed(
    m: Machine,
    ctx: Ctx,
    info: StepInfo,
    category: str,
    message: str,
    data: Any,
    now: datetime,
) -> Ctx | None:
    """The step ``info`` raised while it ran (a ``StepFailure``, an expression's error, …)."""
    if info.kind in NODE_STEP_KINDS:
        error = make_error(category, message, info.step.id, ctx.frame.get("n", 1), now, data)
        return node_failed(m, ctx, info, error, now)
    error = make_error(category, message, info.step.id, 1, now, data)
    m.record(ctx, info, "failed", now, error=error)
    # A control step that failed while starting holds no children: drop what it began.
    frame = ctx.frame
    frame.clear()
    frame["s"] = info.step.id
    frame["st"] = "failed"
    return escalate(m, ctx, error, now)


def node_error(
    m: Machine, ctx: Ctx, info: StepInfo, category: str, message: str, now: datetime
) -> Ctx | None:
    """The attempt of the node step at ``ctx`` failed with a new error (a timeout)."""
    error = make_error(category, message, info.step.id, ctx.frame.get("n", 1), now)
    return node_failed(m, ctx, info, error, now)


def node_failed(
    m: Machine,
    ctx: Ctx,
    info: StepInfo,
    error: JSONObject,
    now: datetime,
    *,
    retryable: Any = None,
    retry_after: Any = None,
    started: datetime | None = None,
) -> Ctx | None:
    """The attempt of the node step at ``ctx`` failed with ``error``: retry it, continue after
    it, or escalate. ``retryable`` and ``retry_after`` (ms) are what an action's error said."""
    frame = ctx.frame
    attempt = frame.get("n", 1)
    if started is None and "t0" in frame and info.kind != ACTION:
        started = from_ms(frame["t0"])  # a wait that timed out: it began when it parked
    policy = retry_policy(m, info)
    if policy is not None:
        now_ms = ms(now)
        token = ctx.prefix + info.step.id
        delay = retry_delay(
            policy,
            error["category"],
            retryable=retryable if isinstance(retryable, bool) else None,
            retry_after_ms=retry_after if isinstance(retry_after, (int, float)) else None,
            attempt=attempt,
            run_id=m.run_id,
            token=token,
            now_ms=now_ms,
            first_ms=frame.get("t0", now_ms),
        )
        if delay is not None:
            m.record(
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
            m.commands.append(WaitUntil(token, info.step.id, due, "retry"))
            return None
    inputs = frame.pop("in", None)
    frame.pop("k", None)
    if info.step.on_error == "continue":
        m.record(
            ctx,
            info,
            "continued",
            now,
            attempt=attempt,
            input=inputs,
            error=error,
            started=started,
        )
        m.env["meta"] = {**m.env["meta"], "lastError": error}
        return m.next_step(ctx)
    m.record(ctx, info, "failed", now, attempt=attempt, input=inputs, error=error, started=started)
    frame["st"] = "failed"
    return escalate(m, ctx, error, now)


def retry_policy(m: Machine, info: StepInfo) -> RetryPolicy | None:
    """The step's ``retry``, else (an action call) its action's default policy."""
    policy = info.step.retry
    if policy is None and info.kind == ACTION and m.action_retry is not None:
        found = m.action_retry(info.config.action_id, info.config.version)
        if isinstance(found, dict):
            found = RetryPolicy.model_validate(found)
        policy = found if isinstance(found, RetryPolicy) else None
    return policy


def escalate(m: Machine, ctx: Ctx, error: JSONObject, now: datetime) -> Ctx | None:
    """Hand an unhandled step error to the nearest handler, or fail the run."""
    child = ctx
    while child.parent is not None:
        parent = child.parent
        info = m.steps[parent.frame["s"]]
        if info.kind == TRY and parent.frame.get("b") == "try":
            m.abandon(child, now)
            return catch(m, parent, info, error, now)
        if info.kind == FOREACH and info.step.on_item_error == "continue":
            m.abandon(child, now)
            return iteration_done(m, parent, info, child.slot, {"error": error}, now)
        child = parent
    m.end_failure(ctx, error, now)
    return None
