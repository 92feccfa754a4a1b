"""What an operator's "retry from step" would call again (SPEC §4.6), worked out before it runs.

``retry_targets`` applies ``retry_state`` to a copy of the run's state (so it validates exactly as
a retry does) and lists the ``action.call`` steps from the restart positions on, read from the
definition: which steps *may* be called again, not which will. Routes (``if``/``switch``
branches, a ``catch``, how many items a ``forEach`` gets) are decided at run time; steps behind
one are marked as depending on the route. Child workflows started by ``control.callWorkflow``
are new runs and not looked into.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowpin.definitions.models import Definition
from flowpin.definitions.walk import index_steps
from flowpin.runtime.ids import idempotency_key, identity
from flowpin.runtime.interpreter import retry_state
from flowpin.runtime.program import (
    ACTION,
    FOREACH,
    IF,
    PARALLEL,
    SWITCH,
    TRY,
    WITH_CHILDREN,
    Program,
    program_for,
)
from flowpin.runtime.state import Ctx, leaves
from flowpin.types import JSONObject

RESTARTS = "restarts here"
AFTER = "after the restart point"
ROUTE = "inside a branch after the restart point: depends on the route"
_RANK = {RESTARTS: 0, AFTER: 1, ROUTE: 2}


@dataclass(slots=True)
class Target:
    """One ``action.call`` step that a retry may call again."""

    step_id: str
    token: str | None
    """The position (with loop indexes and branches); ``None`` inside a ``forEach`` whose
    items are not known yet."""
    action_id: str
    version: int
    reason: str
    key: str | None
    """The idempotency key of the call; ``None`` when the step computes its own key (an
    expression evaluated at run time) or the token is unknown."""


@dataclass(slots=True)
class RetryPlan:
    restart_at: list[str]
    """The tokens of the positions the retry restarts (step ids at the top level)."""
    targets: list[Target]
    """In document order, then by token (unknown tokens last)."""


def retry_targets(
    definition: Definition, state: JSONObject, run_id: str, from_step: str | None = None
) -> RetryPlan:
    """The plan of ``retry_state(definition, state, from_step)`` for run ``run_id``; raises what
    it raises (``NotFoundError``, ``ConflictError``). Pure: reads and changes nothing else."""
    restarted = retry_state(definition, state, from_step)
    planner = _Planner(program_for(definition), run_id, int(restarted["g"]))
    restart_at: list[str] = []
    for ctx in leaves(restarted):
        if ctx.frame.get("s") is not None:
            restart_at.append(ctx.token)
        planner.restart(ctx)
    order = {entry.id: n for n, entry in enumerate(index_steps(definition).steps())}
    targets = sorted(
        planner.found.values(),
        key=lambda item: (order.get(item.step_id, 0), item.token is None, item.token or ""),
    )
    return RetryPlan(restart_at, targets)


class _Planner:
    def __init__(self, program: Program, run_id: str, generation: int) -> None:
        self.program = program
        self.run_id = run_id
        self.generation = generation
        """The retry's generation: what every step started after the restart derives ids from."""
        self.found: dict[tuple[str, str | None], Target] = {}

    def restart(self, ctx: Ctx) -> None:
        """The restarted leaf ``ctx``, the rest of its pipeline, and so on outwards."""
        steps = self.program.steps
        step_id = ctx.frame.get("s")
        if step_id is not None:
            info = steps[step_id]
            self.add(step_id, ctx.token, RESTARTS, int(ctx.frame.get("g", self.generation)))
            for name, first in info.first.items():  # a control step restarts whole
                prefix = _child_prefix(info.kind, step_id, name, ctx.prefix)
                self.pipeline(first, prefix, _routed(info.kind, name))
        current: Ctx | None = ctx
        while current is not None:
            step_id = current.frame.get("s")
            if step_id is not None:
                self.pipeline(steps[step_id].next, current.prefix, False)
            parent = current.parent
            if parent is None:
                break
            frame = parent.frame
            info = steps[frame["s"]]
            if info.kind == TRY and frame.get("b") == "try":
                # runs if a later step of the try fails
                self.pipeline(info.first.get("catch"), parent.prefix, True)
            elif info.kind == FOREACH and frame.get("nx", 0) < len(frame.get("items") or []):
                # the items not started yet run the whole body
                self.pipeline(info.first.get("body"), None, True)
            current = parent

    def pipeline(self, first: str | None, prefix: str | None, route: bool) -> None:
        """Every step from ``first`` to the end of its pipeline, and the steps they hold
        (iteratively: nesting depth costs no stack)."""
        steps = self.program.steps
        stack: list[tuple[str | None, str | None, bool]] = [(first, prefix, route)]
        while stack:
            step_id, pre, in_route = stack.pop()
            if step_id is None:
                continue
            info = steps[step_id]
            stack.append((info.next, pre, in_route))  # after this step's children
            token = None if pre is None else pre + step_id
            self.add(step_id, token, ROUTE if in_route else AFTER, self.generation)
            if info.kind in WITH_CHILDREN:
                for name, child in reversed(list(info.first.items())):
                    child_prefix = _child_prefix(info.kind, step_id, name, pre)
                    stack.append((child, child_prefix, in_route or _routed(info.kind, name)))

    def add(self, step_id: str, token: str | None, reason: str, generation: int) -> None:
        info = self.program.steps[step_id]
        config = info.config
        if info.kind != ACTION or config is None:
            return  # a step whose config is invalid fails before it calls anything
        key = None
        if token is not None and "key" not in info.values:
            ident = identity(token, generation)
            key = idempotency_key(self.run_id, ident, config.action_id, config.version)
        old = self.found.get((step_id, token))
        if old is None or _RANK[reason] < _RANK[old.reason]:
            self.found[(step_id, token)] = Target(
                step_id, token, config.action_id, config.version, reason, key
            )


def _routed(kind: int, branch: str) -> bool:
    """Whether a child pipeline runs only on some routes: an if/switch branch, a catch, a loop
    body (as many times as there are items). A try and every parallel branch always start."""
    return kind in (IF, SWITCH, FOREACH) or (kind == TRY and branch == "catch")


def _child_prefix(kind: int, step_id: str, branch: str, prefix: str | None) -> str | None:
    """The token prefix of a child pipeline; ``None`` (unknown) inside a loop's body."""
    if prefix is None or kind == FOREACH:
        return None
    if kind == PARALLEL:
        return f"{prefix}{step_id}:{branch}/"
    return prefix
