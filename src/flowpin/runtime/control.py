"""The control steps (``control.if``, ``switch``, ``tryCatch``, ``forEach``, ``parallel``,
``callWorkflow``, ``return``, ``fail``): starting them, and what happens when one of the
pipelines they hold runs to its end.

A start is a ``machine.StepHandler`` found by kind in ``STARTS``. A step with children writes
its frame (``b``/``c``, ``items``/``it``…, ``br``) and returns the context of the child to run
(if/switch/tryCatch), or queues its iterations or branches on the machine; when a child
pipeline ends, ``pipeline_done`` hands its result to the parent. A control step writes its
one history row when it chooses (if/switch) or completes.

Decisions recorded here:

- ``error`` in the envelope is the caught error inside a ``catch`` pipe only: when the tryCatch
  completes, ``error`` is what it was before (``null`` at the top). Keep it with
  ``captureErrorAs``.
- ``control.return`` without ``output`` ends the run with the definition's ``output`` evaluated
  at that point (so an early return and a normal end produce the same shape).
- ``forEach`` ``items`` that is not an array is taken as one item (JSONata's singleton sequence),
  ``null`` as no items. Without ``collect`` each item yields ``null``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowpin.errors import ExpressionError
from flowpin.runtime._utils import text
from flowpin.runtime.decisions import ChildFinished, StartChild
from flowpin.runtime.failures import ACTION, EXPRESSION, VALIDATION, StepFailure, make_error
from flowpin.runtime.ids import child_run_id
from flowpin.runtime.program import (
    CALL,
    FAIL,
    FOREACH,
    IF,
    PARALLEL,
    RETURN,
    SWITCH,
    TRY,
    StepInfo,
)
from flowpin.runtime.state import Ctx
from flowpin.types import TERMINAL_STATUSES, JSONObject, RunStatus

if TYPE_CHECKING:
    from flowpin.runtime.machine import Machine, StepHandler

# --------------------------------------------------------------------------- choosing a branch


def if_step(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
    condition = info.conditions[0][1]
    matched = m.evaluate(condition, m.envelope(ctx), now, m.seed(ctx, info))
    branch = "then" if matched else "else"
    m.record(ctx, info, "succeeded", now, output={"branch": branch})
    return _enter(m, ctx, info.first[branch], branch)


def switch_step(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
    envelope = m.envelope(ctx)
    seed = m.seed(ctx, info)
    branch = "default"
    for case_id, condition in info.conditions:
        if m.evaluate(condition, envelope, now, seed):
            branch = case_id
            break
    m.record(ctx, info, "succeeded", now, output={"branch": branch})
    return _enter(m, ctx, info.first[branch], branch)


def try_catch(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
    if info.first["try"] is None:
        m.record(ctx, info, "succeeded", now)
    return _enter(m, ctx, info.first["try"], "try")


def catch(m: Machine, ctx: Ctx, info: StepInfo, error: JSONObject, now: datetime) -> Ctx:
    """The tryCatch at ``ctx`` caught ``error`` from its ``try`` pipe: run its ``catch`` pipe
    (``error`` is what its expressions see as ``error``)."""
    m.record(ctx, info, "caught", now, error=error)
    if info.save_as is not None:
        m.write(ctx, info.save_as, error)
    frame = ctx.frame
    first = info.first["catch"]
    if first is None:
        m.record(ctx, info, "succeeded", now)
        return m.next_step(ctx)
    child: JSONObject = {"s": first}
    frame["b"] = "catch"
    frame["e"] = error
    frame["c"] = child
    return Ctx(child, ctx, ctx.holder, ctx.key, error, ctx.prefix, None)


def _enter(m: Machine, ctx: Ctx, first: str | None, branch: str) -> Ctx:
    """Start the pipeline ``branch`` of the step at ``ctx`` (an empty one: the step is done)."""
    if first is None:
        return m.next_step(ctx)
    frame = ctx.frame
    child: JSONObject = {"s": first}
    frame["b"] = branch
    frame["c"] = child
    return Ctx(child, ctx, ctx.holder, ctx.key, ctx.error, ctx.prefix, None)


# --------------------------------------------------------------------------- loops and branches


def for_each(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
    step = info.step
    items = m.evaluate(info.values["items"], m.envelope(ctx), now, m.seed(ctx, info))
    if items is None:
        items = []
    elif not isinstance(items, list):
        items = [items]
    if not items:
        return _loop_done(m, ctx, info, [], now)
    count = len(items)
    frame = ctx.frame
    frame["items"] = items
    frame["nx"] = 0
    frame["it"] = {}
    frame["res"] = [None] * count
    frame["left"] = count
    for _ in range(min(step.concurrency, count)):
        m.queue.append((_start_iteration(ctx, info), now))
    return None


def _start_iteration(ctx: Ctx, info: StepInfo) -> Ctx:
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


def iteration_done(
    m: Machine, ctx: Ctx, info: StepInfo, index: int, value: Any, now: datetime
) -> Ctx | None:
    """Iteration ``index`` of the forEach at ``ctx`` yielded ``value``: start the next item,
    or complete the loop once every item is done."""
    frame = ctx.frame
    frame["res"][index] = value
    del frame["it"][str(index)]
    frame["left"] -= 1
    if frame["nx"] < len(frame["items"]):
        return _start_iteration(ctx, info)
    if frame["left"]:
        return None
    return _loop_done(m, ctx, info, frame["res"], now)


def _loop_done(m: Machine, ctx: Ctx, info: StepInfo, results: list[Any], now: datetime) -> Ctx:
    if info.save_as is not None:
        m.write(ctx, info.save_as, results)
    m.record(ctx, info, "succeeded", now, output=results)
    return m.next_step(ctx)


def parallel(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
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
        return _parallel_done(m, ctx, info, now)
    frame["left"] = len(started)
    for branch_ctx in started:
        m.queue.append((branch_ctx, now))
    return None


def _parallel_done(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx:
    branches = ctx.frame["br"]
    result = {branch.id: branches[branch.id]["v"] for branch in info.step.branches}
    if info.save_as is not None:
        m.write(ctx, info.save_as, result)
    m.record(ctx, info, "succeeded", now, output=result)
    return m.next_step(ctx)


# --------------------------------------------------------------------------- child runs


def call_workflow(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> Ctx | None:
    step = info.step
    envelope = m.envelope(ctx)
    payload = m.evaluate(info.values["input"], envelope, now, m.seed(ctx, info))
    child_id = child_run_id(m.run_id, m.identity_of(ctx))
    token = ctx.prefix + step.id
    m.commands.append(
        StartChild(token, step.id, child_id, step.workflow_key, step.version, payload, step.wait)
    )
    detail = {"runId": child_id, "workflowKey": step.workflow_key, "version": step.version}
    if step.wait:
        ctx.frame["st"] = "child"
        ctx.frame["in"] = detail
        return None
    result = {"runId": child_id}
    if info.save_as is not None:
        m.write(ctx, info.save_as, result)
    m.record(ctx, info, "succeeded", now, input=detail, output=result)
    return m.next_step(ctx)


def child_finished(
    m: Machine, ctx: Ctx, info: StepInfo, item: ChildFinished, now: datetime
) -> Ctx | None:
    """The child run a ``callWorkflow`` with ``wait`` parked for ended: its output is the
    step's, its failure or cancellation the step's ActionError."""
    if ctx.frame.get("st") != "child" or item.status not in TERMINAL_STATUSES:
        return None
    if item.status == RunStatus.SUCCEEDED:
        if info.save_as is not None:
            m.write(ctx, info.save_as, item.output)
        m.record_resumed(ctx, info, now, item.output)
        return m.next_step(ctx)
    child_id = child_run_id(m.run_id, m.identity_of(ctx))
    child_error = item.error if isinstance(item.error, dict) else {}
    message = f"child run {child_id} {str(item.status).lower()}"
    if child_error.get("message"):
        message += f": {child_error['message']}"
    data = {"childRunId": child_id, "status": str(item.status), "error": item.error}
    error = make_error(ACTION, message, info.step.id, 1, now, data)
    m.record(ctx, info, "failed", now, input=ctx.frame.get("in"), error=error)
    ctx.frame["st"] = "failed"
    return m.fail(ctx, error, now)


# --------------------------------------------------------------------------- ending the run


def return_step(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
    envelope = m.envelope(ctx)
    seed = m.seed(ctx, info)
    evaluator = info.values.get("output") or m.program.output
    value = m.evaluate(evaluator, envelope, now, seed) if evaluator is not None else None
    m.record(ctx, info, "succeeded", now, output=value)
    m.succeed(value, now, ctx.frame)
    return None


def fail_step(m: Machine, ctx: Ctx, info: StepInfo, now: datetime) -> None:
    step = info.step
    message = m.evaluate(info.values["message"], m.envelope(ctx), now, m.seed(ctx, info))
    raise StepFailure(step.category, text(message) or "")


# --------------------------------------------------------------------------- ends of pipelines


def pipeline_done(m: Machine, ctx: Ctx, now: datetime) -> Ctx | None:
    """The pipeline of ``ctx`` ran to its end: the enclosing step takes it from here (the
    definition's own pipeline: the run succeeds)."""
    parent = ctx.parent
    if parent is None:
        return _finish(m, ctx, now)
    info = m.steps[parent.frame["s"]]
    kind = info.kind
    if kind == FOREACH:
        value = None
        collect = info.values.get("collect")
        if collect is not None:
            try:
                value = m.evaluate(collect, m.envelope(ctx), now, m.seed(parent, info))
            except Exception as exc:
                return _pipeline_end_failed(m, ctx, info, exc, now)
        return iteration_done(m, parent, info, ctx.slot, value, now)
    if kind == PARALLEL:
        frame = parent.frame
        del frame["br"][ctx.slot]["c"]
        frame["left"] -= 1
        if frame["left"]:
            return None
        return _parallel_done(m, parent, info, now)
    if kind == TRY:
        m.record(parent, info, "succeeded", now)
    return m.next_step(parent)


def _finish(m: Machine, ctx: Ctx, now: datetime) -> None:
    value = None
    if m.program.output is not None:
        try:
            value = m.evaluate(m.program.output, m.envelope(ctx), now, None)
        except Exception as exc:
            _pipeline_end_failed(m, ctx, None, exc, now)
            return None
    m.succeed(value, now, None)
    return None


def _pipeline_end_failed(
    m: Machine, ctx: Ctx, info: StepInfo | None, exc: Exception, now: datetime
) -> Ctx | None:
    """``collect`` or the definition's ``output`` failed to evaluate."""
    if isinstance(exc, ExpressionError):
        category, message = EXPRESSION, exc.message
        data: Any = {"expression": exc.expression, "position": exc.position}
    elif m.raise_internal:
        raise exc
    else:
        category, message, data = VALIDATION, f"internal error: {exc!r}", None
    step_id = info.step.id if info is not None else None
    error = make_error(category, message, step_id, 1, now, data)
    if info is not None:
        m.record(ctx, info, "failed", now, error=error, token=ctx.token)
    ctx.frame["st"] = "failed"
    return m.fail(ctx, error, now)


STARTS: dict[int, StepHandler] = {
    IF: if_step,
    SWITCH: switch_step,
    FOREACH: for_each,
    PARALLEL: parallel,
    TRY: try_catch,
    CALL: call_workflow,
    RETURN: return_step,
    FAIL: fail_step,
}
