"""The run state the interpreter checkpoints: an envelope plus a tree of frames naming step ids.

The state is plain JSON, stored verbatim by the worker (the format is documented in
``docs/state-machines.md``)::

    {"v": 1, "status": "RUNNING",
     "envelope": {"payload": …, "vars": {…}, "meta": {…}, "error": null},
     "root": <frame> | null, "g": 0, "t": 1767225600000,
     "output": …, "failed": {"token": …, "stepId": …}, "pending": true,
     "mv": {"<old token>": "<new token>"}}

``status`` mirrors the outcome's status; ``root`` is the position (``null`` once the run
succeeded; kept as it was when the run failed, so the operator can retry it); ``g`` counts
operator retries; ``t`` is the latest logical time the run saw (epoch ms); ``output`` is set
on success, ``failed`` names the token and step whose error failed the run; ``pending`` says
that some leaves have status ``new`` (a new or retried run) and ``advance`` must start them;
``mv`` maps the tokens of positions a migration renamed to their new tokens (an input still
addressed to the old one is delivered to the new one).

A *frame* is one position in one pipeline (a list of steps): ``{"s": <step id>, …}``. ``s`` is
``None`` when the pipeline has run to its end (only seen at rest when the code that runs at
the end of a pipeline - ``collect`` or the definition's ``output`` - failed). The other keys
depend on what the step at ``s`` is doing:

``st``
    a leaf's status: ``new`` (to execute), ``call`` (CallAction outstanding), ``event``,
    ``timer`` (time.wait), ``retry`` (retry backoff), ``task``, ``child`` (parked), ``failed``
    (the step failed and the run failed with it). Control steps that have children carry none.
``n``, ``t0``, ``due``, ``g``, ``in``
    attempt number (absent = 1), first attempt's logical time in epoch ms, due time of the
    parked wait (ISO), generation used for the ids the step derives (absent = the state's),
    and the input of the outstanding attempt (kept for its history row).
``b``, ``c``, ``e``
    ``control.if`` / ``control.switch`` / ``control.tryCatch``: the branch taken (``then``,
    ``else``, a case id, ``default``, ``try``, ``catch``), its pipeline frame, and the caught
    error while in ``catch``.
``items``, ``nx``, ``it``, ``res``, ``left``
    ``control.forEach``: the items (frozen when the loop starts), the next index to start, the
    running iterations ``{"<index>": {"v": vars, "c": frame}}``, the results in item order and
    how many items are not finished.
``br``, ``left``
    ``control.parallel``: ``{"<branch id>": {"v": vars, "c": frame}}`` (``c`` dropped when the
    branch is done) and how many branches are still running.

Envelope values (``payload``, ``vars``, ``meta``, ``error``, and everything below them, plus
``items``) are never mutated in place: writes copy the containers along their path. So an
iteration's isolated ``vars`` is a shallow copy (a branch starts with the parent's very object),
and ``advance`` copies only the frames, not the data, to leave its caller's state untouched.

Token grammar (the ``token`` of commands and inputs)::

    token    = { segment "/" } step-id
    segment  = foreach-id "[" index "]"  |  parallel-id ":" branch-id

Only loops and branches appear: ``if``/``switch``/``tryCatch`` have one child at a time and step
ids are unique, so ``items[3]/notify`` and ``fan:left/wait`` name exactly one position.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flowpin.types import JSONObject, RunStatus

STATE_FORMAT = 1

PARKED = frozenset({"event", "timer", "retry", "task", "child"})
"""Leaf statuses waiting for something other than an action result."""
TIMERS = frozenset({"timer", "retry"})
ACTIVE = frozenset({RunStatus.RUNNING, RunStatus.WAITING})
"""Run statuses with positions that can still move."""


class Ctx:
    """A position being executed: one pipeline frame plus what its token sees.

    Not stored: rebuilt from the frames when a run is resumed. ``holder[key]`` is the ``vars``
    of the scope (the state for the run, an iteration or a branch record otherwise)."""

    __slots__ = ("error", "frame", "holder", "key", "parent", "prefix", "slot")

    def __init__(
        self,
        frame: JSONObject,
        parent: Ctx | None,
        holder: JSONObject,
        key: str,
        error: Any,
        prefix: str,
        slot: Any,
    ) -> None:
        self.frame = frame
        self.parent = parent
        self.holder = holder
        self.key = key
        self.error = error
        self.prefix = prefix
        self.slot = slot

    @property
    def token(self) -> str:
        step_id = self.frame.get("s")
        return self.prefix + step_id if step_id is not None else self.prefix.rstrip("/")


def root_ctx(state: JSONObject) -> Ctx | None:
    root = state.get("root")
    if root is None:
        return None
    return Ctx(root, None, state["envelope"], "vars", None, "", None)


def is_leaf(frame: JSONObject) -> bool:
    return "c" not in frame and "it" not in frame and "br" not in frame


def child_ctx(ctx: Ctx) -> Ctx:
    """The child of an if/switch/tryCatch frame (which must have ``c``)."""
    frame = ctx.frame
    return Ctx(frame["c"], ctx, ctx.holder, ctx.key, frame.get("e", ctx.error), ctx.prefix, None)


def iteration_ctx(ctx: Ctx, index: str, record: JSONObject) -> Ctx:
    prefix = f"{ctx.prefix}{ctx.frame['s']}[{index}]/"
    return Ctx(record["c"], ctx, record, "v", ctx.error, prefix, int(index))


def branch_ctx(ctx: Ctx, branch_id: str, record: JSONObject) -> Ctx:
    prefix = f"{ctx.prefix}{ctx.frame['s']}:{branch_id}/"
    return Ctx(record["c"], ctx, record, "v", ctx.error, prefix, branch_id)


def walk(start: Ctx) -> Iterator[Ctx]:
    """Every pipeline frame below ``start`` (included), depth first, in a stable order
    (iterations by index, branches by id) that does not depend on how the JSON was stored."""
    stack = [start]
    while stack:
        ctx = stack.pop()
        yield ctx
        frame = ctx.frame
        if "c" in frame:
            stack.append(child_ctx(ctx))
        elif "it" in frame:
            iterations = frame["it"]
            for index in sorted(iterations, key=int, reverse=True):
                record = iterations[index]
                if "c" in record:
                    stack.append(iteration_ctx(ctx, index, record))
        elif "br" in frame:
            branches = frame["br"]
            for branch_id in sorted(branches, reverse=True):
                record = branches[branch_id]
                if "c" in record:
                    stack.append(branch_ctx(ctx, branch_id, record))


def leaf_frames(root: JSONObject) -> Iterator[JSONObject]:
    """The leaf frames below ``root``, in no particular order (cheaper than ``leaves``)."""
    stack = [root]
    while stack:
        frame = stack.pop()
        if "c" in frame:
            stack.append(frame["c"])
        elif "it" in frame:
            stack.extend(record["c"] for record in frame["it"].values() if "c" in record)
        elif "br" in frame:
            stack.extend(record["c"] for record in frame["br"].values() if "c" in record)
        else:
            yield frame


def leaves(state: JSONObject) -> Iterator[Ctx]:
    start = root_ctx(state)
    if start is None:
        return
    for ctx in walk(start):
        if is_leaf(ctx.frame):
            yield ctx


def route(state: JSONObject, token: str) -> Ctx | None:
    """The leaf a token names, or ``None`` when no such position is active."""
    root = state.get("root")
    if root is None or not isinstance(token, str):
        return None
    ctx = Ctx(root, None, state["envelope"], "vars", None, "", None)
    if "/" not in token and root.get("s") == token and is_leaf(root):
        return ctx  # the common case: a top-level step
    segments = token.split("/")
    for segment in segments[:-1]:
        while "c" in ctx.frame:
            ctx = child_ctx(ctx)
        frame = ctx.frame
        if segment.endswith("]"):
            name, _, index = segment[:-1].partition("[")
            iterations = frame.get("it")
            if frame.get("s") != name or iterations is None:
                return None
            record = iterations.get(index)
            if record is None or "c" not in record:
                return None
            ctx = iteration_ctx(ctx, index, record)
        else:
            name, sep, branch_id = segment.partition(":")
            branches = frame.get("br")
            if not sep or frame.get("s") != name or branches is None:
                return None
            record = branches.get(branch_id)
            if record is None or "c" not in record:
                return None
            ctx = branch_ctx(ctx, branch_id, record)
    while "c" in ctx.frame:
        ctx = child_ctx(ctx)
    if ctx.frame.get("s") != segments[-1] or not is_leaf(ctx.frame):
        return None
    return ctx


def copy_frames(root: JSONObject) -> JSONObject:
    """Copy the frame tree (not the envelope values it refers to, which are never mutated)."""
    new_root = dict(root)
    stack = [new_root]
    while stack:
        frame = stack.pop()
        child = frame.get("c")
        if child is not None:
            frame["c"] = child = dict(child)
            stack.append(child)
            continue
        iterations = frame.get("it")
        if iterations is not None:
            frame["it"] = copied = {}
            for index, record in iterations.items():
                copied[index] = record = dict(record)
                if "c" in record:
                    record["c"] = child = dict(record["c"])
                    stack.append(child)
            frame["res"] = list(frame["res"])
            continue
        branches = frame.get("br")
        if branches is not None:
            frame["br"] = copied = {}
            for branch_id, record in branches.items():
                copied[branch_id] = record = dict(record)
                if "c" in record:
                    record["c"] = child = dict(record["c"])
                    stack.append(child)
    return new_root


def copy_state(state: JSONObject) -> JSONObject:
    copied = dict(state)
    copied["envelope"] = dict(state["envelope"])
    root = copied.get("root")
    if root is not None:
        copied["root"] = copy_frames(root)
    return copied


def put(container: Any, segments: tuple[str, ...], start: int, value: Any) -> dict[str, Any]:
    """A copy of ``container`` with ``value`` at ``segments[start:]``: only the objects along the
    path are copied (a non-object in the way becomes an object, as in ``paths.set_path``)."""
    result: dict[str, Any] = dict(container) if isinstance(container, dict) else {}
    current = result
    for segment in segments[start:-1]:
        child = current.get(segment)
        child = dict(child) if isinstance(child, dict) else {}
        current[segment] = child
        current = child
    current[segments[-1]] = value
    return result


def resume_timers(state: JSONObject) -> list[str]:
    """Tokens of the parked ``WaitUntil`` timers (time.wait and retry backoff) of a run: what an
    operator's "resume now" fires, by feeding ``WaitResolved(kind="timer")`` for each."""
    if state.get("status") not in ACTIVE:
        return []
    return [ctx.token for ctx in leaves(state) if ctx.frame.get("st") in TIMERS]
