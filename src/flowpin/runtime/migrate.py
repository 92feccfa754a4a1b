"""Moving a run in flight to another version of its workflow: the checks, and the new state.

Pure (no database). ``Migrator(source, target, mapping).plan(state, now)`` either rewrites a
run's checkpointed state for the target version or lists the problems that stop the move.
Frames name steps by id, never by list index (``docs/state-machines.md``), so moving a position
is renaming the ids along its frames; what must hold for the renamed state to mean the same
thing in the target version is checked here, for every active position of the run:

- each frame's step exists in the target (``step.missing``), in the same place: the same
  enclosing step and branch, after mapping (``step.moved``); a control frame keeps its kind
  and a parallel its branches (``step.incompatible``, ``parallel.branches_changed``), so an
  iteration of a forEach only ever moves into the same forEach. A run with a single position
  and no loop or parallel around it may move into or out of if / switch / tryCatch steps: its
  enclosing frames are rebuilt from the target (not into a catch it did not enter);
- a parked leaf maps to a step of the same kind: a timer to a time.wait, an event wait to an
  event.wait of the same event name (``wait.event_changed``), a task to a human.task, a child
  wait to a callWorkflow, a retry backoff to a step of the same type (``step.incompatible``).
  A step the mapping names explicitly may change kind: the position then *restarts* at the
  target step (its wait is closed and the step runs anew), as ``resetTimers`` does for timers;
- an action call in flight blocks the move (``action.in_flight``): its result belongs to the
  step that issued it, so the run is moved once it settled;
- what the target step and everything after it read from ``vars`` exists in the run's actual
  envelope (``variable.undefined``: the data-flow analysis of ``UNDEFINED_VARIABLE`` started
  at the position, with the names the run really holds; reads the target version leaves
  undefined on its own - for new runs too - are not the migration's doing: they are reported
  as warnings and do not block).

Timers keep their due time: a kept position keeps its frame (``due``, attempt, input).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flowpin.definitions.models import Definition
from flowpin.definitions.validate import undefined_from, validate
from flowpin.definitions.walk import index_steps
from flowpin.runtime._utils import ms
from flowpin.runtime.program import (
    CALL,
    EVENT_WAIT,
    FOREACH,
    HUMAN_TASK,
    PARALLEL,
    TIME_WAIT,
    Program,
    StepInfo,
    program_for,
)
from flowpin.runtime.state import ACTIVE, Ctx, copy_state, is_leaf, leaves, root_ctx, walk
from flowpin.types import JSONObject

STEP_MISSING = "step.missing"
STEP_MOVED = "step.moved"
STEP_INCOMPATIBLE = "step.incompatible"
EVENT_CHANGED = "wait.event_changed"
BRANCHES_CHANGED = "parallel.branches_changed"
IN_FLIGHT = "action.in_flight"
UNDEFINED = "variable.undefined"
NOT_ACTIVE = "run.not_active"

FIXED_BRANCHES = frozenset({"then", "else", "try", "catch", "default"})
"""Branch names that are not ids (switch case and parallel branch ids map like step ids)."""

_WAITING_FOR = {
    "timer": "a timer (time.wait)",
    "event": "an event (event.wait)",
    "task": "a human task",
    "child": "a child run",
    "retry": "a retry backoff",
}


@dataclass(frozen=True, slots=True)
class MoveProblem:
    """Why one run cannot move; ``retryable`` problems go away by themselves (try later)."""

    code: str
    message: str
    step_id: str | None = None
    token: str | None = None
    details: JSONObject | None = None
    retryable: bool = False

    def to_dict(self) -> JSONObject:
        return {
            "code": self.code,
            "message": self.message,
            "stepId": self.step_id,
            "token": self.token,
            "details": self.details,
            "retryable": self.retryable,
        }


@dataclass(frozen=True, slots=True)
class Position:
    """One active position of a run, before and after the move."""

    token: str
    step_id: str
    new_token: str
    new_step_id: str
    status: str | None
    """What the position was doing: ``timer``, ``event``, ``task``, ``child``, ``retry``,
    ``new``."""
    restart: bool
    """The target step runs anew (its wait is closed); otherwise the wait carries over."""

    def to_dict(self) -> JSONObject:
        return {
            "from": self.token,
            "to": self.new_token,
            "fromStep": self.step_id,
            "toStep": self.new_step_id,
            "waiting": self.status,
            "action": "restart" if self.restart else "keep",
        }


@dataclass(slots=True)
class MovePlan:
    problems: list[MoveProblem] = field(default_factory=list)
    warnings: list[MoveProblem] = field(default_factory=list)
    """Non-blocking: reads the target version leaves undefined for new runs as well."""
    positions: list[Position] = field(default_factory=list)
    state: JSONObject | None = None
    """The state for the target version (``None`` when there are problems)."""
    current_steps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def wakes(self) -> bool:
        """Some position restarts: a worker must take the run now."""
        return any(position.restart for position in self.positions)


class Migrator:
    """The checks and the rewrite for one ``(source, target, mapping)``; reused for every run
    of a bulk migration (the variable analysis is cached per position and set of names)."""

    def __init__(
        self,
        source: Definition,
        target: Definition,
        mapping: Mapping[str, str] | None = None,
        *,
        target_version: int | None = None,
        reset_timers: bool = False,
    ) -> None:
        self.source: Program = program_for(source)
        self.target: Program = program_for(target)
        self.mapping = dict(mapping or {})
        self.target_version = target_version
        self.reset_timers = reset_timers
        self._baseline = {
            (problem.step_id, (problem.details or {}).get("variable"))
            for problem in validate(target)
            if problem.code == "UNDEFINED_VARIABLE"
        }
        self._reads: dict[tuple[Any, ...], tuple[list[MoveProblem], list[MoveProblem]]] = {}

    def mapping_errors(self) -> list[str]:
        """Mapping entries that name no step (or case, or branch) of their version."""
        source_ids = index_steps(self.source.definition).by_id
        target_ids = index_steps(self.target.definition).by_id
        errors = [
            f"{old!r} is not a step of the version migrated from"
            for old in self.mapping
            if old not in source_ids
        ]
        errors += [
            f"{new!r} (mapped from {old!r}) is not a step of the target version"
            for old, new in self.mapping.items()
            if new not in target_ids
        ]
        return errors

    def target_of(self, step_id: str) -> str:
        return self.mapping.get(step_id, step_id)

    # ------------------------------------------------------------------ planning

    def plan(self, state: JSONObject, now: datetime) -> MovePlan:
        """Check every active position of ``state`` and, if all pass, rewrite it (``state`` is
        not modified)."""
        plan = MovePlan()
        new_state = copy_state(state)
        start = root_ctx(new_state)
        status = state.get("status")
        if start is None or (status is not None and status not in ACTIVE):
            plan.problems.append(MoveProblem(NOT_ACTIVE, "the run has no active position"))
            return plan
        contexts = list(walk(start))
        chain = self._chain(contexts, plan.problems)
        for ctx in contexts:
            if chain is None:
                self._check_frame(ctx, plan.problems)
            elif _leaf(ctx):
                self._check_frame(ctx, plan.problems, placed=False)
        decisions = [(ctx, self._check_leaf(ctx, plan.problems)) for ctx in contexts if _leaf(ctx)]
        if plan.problems:
            return plan
        for ctx, restart in decisions:
            self._check_reads(ctx, restart, plan)
        if plan.problems:
            return plan
        before = {
            id(ctx.frame): (ctx.token, ctx.frame["s"], ctx.frame.get("st")) for ctx, _ in decisions
        }
        restarted = {id(ctx.frame) for ctx, restart in decisions if restart}
        for ctx in contexts:
            _rename(ctx.frame, self.target_of)
        for ctx, restart in decisions:
            if restart:
                step_id = ctx.frame["s"]
                ctx.frame.clear()
                ctx.frame.update({"s": step_id, "st": "new"})
        if chain is not None:
            [(leaf, _)] = decisions
            frame = leaf.frame
            for step_id, branch, caught in reversed(chain):
                frame = {"s": step_id, "b": branch, "c": frame}
                if branch == "catch":
                    frame["e"] = caught
            new_state["root"] = frame
        if restarted:
            new_state["pending"] = True
            new_state["t"] = max(ms(now), int(new_state.get("t") or 0))
        for ctx in leaves(new_state):
            token, step_id, status = before[id(ctx.frame)]
            plan.positions.append(
                Position(
                    token=token,
                    step_id=step_id,
                    new_token=ctx.token,
                    new_step_id=ctx.frame["s"],
                    status=status,
                    restart=id(ctx.frame) in restarted,
                )
            )
        renamed = {p.token: p.new_token for p in plan.positions if p.token != p.new_token}
        if renamed:
            # inputs still on their way under an old token find the position (machine._deliver)
            aliases = dict(new_state.get("mv") or {})
            aliases = {old: renamed.get(new, new) for old, new in aliases.items()}
            aliases.update((old, new) for old, new in renamed.items() if not _restarted(plan, old))
            new_state["mv"] = aliases
        plan.state = new_state
        plan.current_steps = sorted({position.new_step_id for position in plan.positions})
        return plan

    def _chain(
        self, contexts: list[Ctx], problems: list[MoveProblem]
    ) -> list[tuple[str, str, Any]] | None:
        """For a run with one position and no loop or parallel around it: the if / switch /
        tryCatch frames that lead to its target in the target version, top down, as
        ``(step id, branch, caught error)``. Such a position may move into or out of those
        (wrapping a step in a tryCatch is a common edit): its enclosing frames are rebuilt
        from the target, the branches taken being the ones that hold the target step.
        ``None`` when the run has another shape (its frames are then checked one by one)."""
        leaves_ = [ctx for ctx in contexts if _leaf(ctx)]
        if len(leaves_) != 1 or any("it" in c.frame or "br" in c.frame for c in contexts):
            return None
        [leaf] = leaves_
        if leaf.frame.get("s") is None:
            return None
        info = self.target.steps.get(self.target_of(leaf.frame["s"]))
        if info is None:
            return None
        caught: dict[str, Any] = {}
        enclosing = leaf.parent
        while enclosing is not None:
            if enclosing.frame.get("b") == "catch":
                caught[self.target_of(enclosing.frame["s"])] = enclosing.frame.get("e")
            enclosing = enclosing.parent
        chain: list[tuple[str, str, Any]] = []
        while info.parent is not None:
            parent = self.target.steps[info.parent]
            if parent.kind in (FOREACH, PARALLEL):
                return None
            branch = str(info.branch)
            if branch == "catch" and parent.step.id not in caught:
                self._problem(
                    problems,
                    STEP_MOVED,
                    f"step {info.step.id!r} is in the catch of {parent.step.id!r} in the target "
                    "version; the run caught no error there",
                    leaf,
                )
                return []
            chain.append((parent.step.id, branch, caught.get(parent.step.id)))
            info = parent
        chain.reverse()
        return chain

    def _problem(self, problems: list[MoveProblem], code: str, message: str, ctx: Ctx) -> None:
        problems.append(MoveProblem(code, message, ctx.frame.get("s"), ctx.token))

    def _check_frame(self, ctx: Ctx, problems: list[MoveProblem], *, placed: bool = True) -> None:
        frame = ctx.frame
        old_id = frame.get("s")
        if old_id is None:
            return
        new_id = self.target_of(old_id)
        info = self.target.steps.get(new_id)
        if info is None:
            self._problem(
                problems,
                STEP_MISSING,
                f"step {new_id!r} is not in the target version; map {old_id!r} to one of its steps",
                ctx,
            )
            return
        expected = self._place(ctx)
        if placed and (info.parent, info.branch) != expected:
            self._problem(
                problems,
                STEP_MOVED,
                f"step {new_id!r} is {_where(info.parent, info.branch)} in the target version, "
                f"but the run is {_where(*expected)}; a position moves only within the same "
                "enclosing step and branch",
                ctx,
            )
            return
        if is_leaf(frame):
            return
        old = self.source.steps.get(old_id)
        if old is None or old.kind != info.kind:
            self._problem(
                problems,
                STEP_INCOMPATIBLE,
                f"the run is inside {old.type if old else 'step'} {old_id!r}; {new_id!r} is a "
                f"{info.type} in the target version",
                ctx,
            )
        elif "br" in frame and {self.target_of(b) for b in frame["br"]} != set(info.first):
            self._problem(
                problems,
                BRANCHES_CHANGED,
                f"the run is inside parallel {old_id!r}, whose branches differ in the target "
                "version; its running branches cannot be matched",
                ctx,
            )

    def _place(self, ctx: Ctx) -> tuple[str | None, str | None]:
        """The enclosing step and branch ``ctx`` must have in the target, after mapping."""
        parent = ctx.parent
        if parent is None:
            return None, None
        frame = parent.frame
        if "it" in frame:
            branch: str | None = "body"
        elif "br" in frame:
            branch = self.target_of(str(ctx.slot))
        else:
            taken = frame.get("b")
            branch = taken if taken in FIXED_BRANCHES else self.target_of(str(taken))
        return self.target_of(frame["s"]), branch

    def _check_leaf(self, ctx: Ctx, problems: list[MoveProblem]) -> bool:
        """Whether the position restarts at its target; problems when it cannot move."""
        frame = ctx.frame
        old_id = frame.get("s")
        status = frame.get("st")
        if old_id is None:
            return False
        info = self.target.steps.get(self.target_of(old_id))
        old = self.source.steps.get(old_id)
        if info is None or old is None:
            return False  # reported by _check_frame
        if status == "call":
            problems.append(
                MoveProblem(
                    IN_FLIGHT,
                    f"an action call of step {old_id!r} is in flight; the run can move once it "
                    "settled (try again shortly)",
                    old_id,
                    ctx.token,
                    retryable=True,
                )
            )
            return False
        if status in (None, "new"):
            return False
        if status == "failed":
            self._problem(problems, NOT_ACTIVE, f"step {old_id!r} failed the run", ctx)
            return False
        if _compatible(status, old, info):
            return status == "timer" and self.reset_timers
        explicit = old_id in self.mapping
        if status == "event" and info.kind == EVENT_WAIT and not explicit:
            self._problem(
                problems,
                EVENT_CHANGED,
                f"the run waits for event {_event(old)!r} at {old_id!r}; in the target version "
                f"{info.step.id!r} waits for {_event(info)!r}. Name {old_id!r} in the mapping "
                "to wait anew for the new event",
                ctx,
            )
            return False
        if explicit and status != "child":
            return True
        hint = (
            "a child run cannot be moved to another kind of step"
            if status == "child"
            else f"map {old_id!r} to a step of the same kind, or name it in the mapping to "
            "restart the run at the target step"
        )
        self._problem(
            problems,
            STEP_INCOMPATIBLE,
            f"the run waits for {_WAITING_FOR.get(status, status)} at {old.type} {old_id!r}; "
            f"{info.step.id!r} is a {info.type} in the target version: {hint}",
            ctx,
        )
        return False

    def _check_reads(self, ctx: Ctx, restart: bool, plan: MovePlan) -> None:
        frame = ctx.frame
        if frame.get("s") is None:
            return
        step_id = self.target_of(frame["s"])
        include = restart or frame.get("st") in (None, "new", "retry")
        defined = _names(ctx.holder.get(ctx.key))
        outer: dict[str, frozenset[str]] = {}
        enclosing = ctx.parent
        while enclosing is not None:
            if "it" in enclosing.frame or "br" in enclosing.frame:
                outer[self.target_of(enclosing.frame["s"])] = _names(
                    enclosing.holder.get(enclosing.key)
                )
            enclosing = enclosing.parent
        key = (step_id, include, defined, tuple(sorted(outer.items())))
        found = self._reads.get(key)
        if found is None:
            found = self._reads[key] = self._undefined(step_id, defined, outer, include)
        blocking, warnings = found
        for problem, into in [(p, plan.problems) for p in blocking] + [
            (p, plan.warnings) for p in warnings
        ]:
            into.append(
                MoveProblem(
                    problem.code, problem.message, problem.step_id, ctx.token, problem.details
                )
            )

    def _undefined(
        self,
        step_id: str,
        defined: frozenset[str],
        outer: dict[str, frozenset[str]],
        include: bool,
    ) -> tuple[list[MoveProblem], list[MoveProblem]]:
        blocking: list[MoveProblem] = []
        warnings: list[MoveProblem] = []
        seen: set[tuple[str | None, Any]] = set()
        for problem in undefined_from(
            self.target.definition, step_id, defined, outer, include_step=include
        ):
            variable = (problem.details or {}).get("variable")
            mark = (problem.step_id, variable)
            if mark in seen:
                continue
            seen.add(mark)
            also_new = mark in self._baseline
            message = (
                f"step {problem.step_id!r} reads {variable}, which the run does not have at "
                f"{step_id!r} and no step before it sets"
            )
            if also_new:
                message += " (the target version leaves it unset for new runs too)"
            details = {"variable": variable, "from": step_id}
            (warnings if also_new else blocking).append(
                MoveProblem(UNDEFINED, message, problem.step_id, None, details)
            )
        return blocking, warnings


def _restarted(plan: MovePlan, token: str) -> bool:
    return any(p.restart for p in plan.positions if p.token == token)


def _leaf(ctx: Ctx) -> bool:
    return is_leaf(ctx.frame)


def _names(scope: Any) -> frozenset[str]:
    return frozenset(scope) if isinstance(scope, dict) else frozenset()


def _event(info: StepInfo) -> str | None:
    return getattr(info.config, "event_name", None)


def _compatible(status: str, old: StepInfo, new: StepInfo) -> bool:
    if status == "timer":
        return new.kind == TIME_WAIT
    if status == "event":
        return new.kind == EVENT_WAIT and _event(new) == _event(old)
    if status == "task":
        return new.kind == HUMAN_TASK
    if status == "child":
        return new.kind == CALL
    if status == "retry":
        return new.type == old.type
    return False


def _where(parent: str | None, branch: str | None) -> str:
    if parent is None:
        return "at the top level"
    if branch is None or branch == parent:
        return f"inside {parent!r}"
    return f"inside {parent!r} ({branch})"


def _rename(frame: JSONObject, target_of: Any) -> None:
    step_id = frame.get("s")
    if step_id is not None:
        frame["s"] = target_of(step_id)
    taken = frame.get("b")
    if taken is not None and taken not in FIXED_BRANCHES:
        frame["b"] = target_of(taken)
    branches = frame.get("br")
    if branches is not None:
        frame["br"] = {target_of(branch): record for branch, record in branches.items()}
