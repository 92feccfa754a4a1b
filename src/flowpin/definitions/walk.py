"""Index every step of a definition by id: its document path, parent, pipe and type.

Shared by validation, diff, migration and per-step counts. Switch cases and parallel branches
are indexed too (``kind`` ``"case"`` / ``"branch"``): they carry ids in the same namespace as
steps (validation requires all of them to be unique), positions name them (``fan:left/wait``),
and the steps inside them have the case or branch as their parent. So the tree reads::

    switch "route"            parent None,     pipe "steps"
      case "big"              parent "route",  pipe "cases"
        step "approve"        parent "big",    pipe "steps"
      step "fallback"         parent "route",  pipe "default"

Paths are the document's own (``steps[2].then[0]``), with the field names as written
(``else``, ``try``); ``join_path`` builds them the same way everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from flowpin.definitions.models import (
    Definition,
    ForEachStep,
    IfStep,
    ParallelBranch,
    ParallelStep,
    Step,
    SwitchCase,
    SwitchStep,
    TryCatchStep,
)

EntryKind = Literal["step", "case", "branch"]

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


def join_path(base: str, key: str | int) -> str:
    """Append one segment to a document path: ``a.b``, ``a[0]``, ``a['odd key']``."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{base}.{key}" if base else key
    return f"{base}[{key!r}]"


def join_relative(base: str, relative: str) -> str:
    """Append a relative path (as ``flowpin.expressions.values.iter_expressions`` yields)."""
    if not relative:
        return base
    if not base or relative.startswith("["):
        return base + relative
    return f"{base}.{relative}"


@dataclass(frozen=True, slots=True)
class StepEntry:
    """One indexed element: a step, a switch case or a parallel branch."""

    id: str
    kind: EntryKind
    type: str
    """The step type (``action.call``, ``control.if``); ``"case"`` / ``"branch"`` for those."""
    path: str
    """Document path, e.g. ``steps[2].then[0]``."""
    parent_id: str | None
    """The enclosing step, case or branch; ``None`` at the top level."""
    pipe: str
    """The field of the parent holding this element: ``steps`` (top level, or inside a case or
    branch), ``then``, ``else``, ``default``, ``body``, ``try``, ``catch``, ``cases``,
    ``branches``."""
    index: int
    """Position within that pipe."""
    depth: int
    """0 at the top level; +1 per enclosing step, case or branch."""
    node: Step | SwitchCase | ParallelBranch = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class StepIndex:
    entries: tuple[StepEntry, ...]
    """Every element in document order (pre-order), duplicates included."""
    by_id: dict[str, StepEntry]
    """The first element with each id."""
    duplicates: tuple[StepEntry, ...]
    """The second and later elements with an id already seen, in document order."""

    def __contains__(self, step_id: object) -> bool:
        return step_id in self.by_id

    def __getitem__(self, step_id: str) -> StepEntry:
        return self.by_id[step_id]

    def get(self, step_id: str) -> StepEntry | None:
        return self.by_id.get(step_id)

    def steps(self) -> Iterator[StepEntry]:
        """Only the real steps (no cases or branches), in document order."""
        return (entry for entry in self.entries if entry.kind == "step")

    def children(self, parent_id: str | None, pipe: str | None = None) -> list[StepEntry]:
        """The direct children of ``parent_id`` (``None``: the top level), optionally of one
        pipe, in document order."""
        return [
            entry
            for entry in self.entries
            if entry.parent_id == parent_id and (pipe is None or entry.pipe == pipe)
        ]

    def siblings(self, step_id: str) -> list[StepEntry]:
        """The elements of the pipe ``step_id`` sits in (itself included), in order."""
        entry = self.by_id[step_id]
        return self.children(entry.parent_id, entry.pipe)

    def ancestors(self, step_id: str) -> list[StepEntry]:
        """The enclosing elements of ``step_id``, innermost first."""
        chain: list[StepEntry] = []
        parent = self.by_id[step_id].parent_id
        while parent is not None:
            entry = self.by_id[parent]
            chain.append(entry)
            parent = entry.parent_id
        return chain


def index_steps(definition: Definition) -> StepIndex:
    """Index ``definition``; ids need not be unique (see ``StepIndex.duplicates``)."""
    entries = list(_walk_pipe(definition.steps, "steps", None, "steps", 0))
    by_id: dict[str, StepEntry] = {}
    duplicates: list[StepEntry] = []
    for entry in entries:
        if entry.id in by_id:
            duplicates.append(entry)
        else:
            by_id[entry.id] = entry
    return StepIndex(tuple(entries), by_id, tuple(duplicates))


def child_pipes(step: Step) -> list[tuple[str, Sequence[Step]]]:
    """The pipes directly nested in a control step, as ``(field name, steps)``; switch cases
    and parallel branches are not pipes themselves (see ``_walk_step``)."""
    if isinstance(step, IfStep):
        return [("then", step.then), ("else", step.else_)]
    if isinstance(step, SwitchStep):
        return [("default", step.default)]
    if isinstance(step, ForEachStep):
        return [("body", step.body)]
    if isinstance(step, TryCatchStep):
        return [("try", step.try_), ("catch", step.catch)]
    return []


def _walk_pipe(
    steps: Sequence[Step], base: str, parent_id: str | None, pipe: str, depth: int
) -> Iterator[StepEntry]:
    for index, step in enumerate(steps):
        yield from _walk_step(step, join_path(base, index), parent_id, pipe, index, depth)


def _walk_step(
    step: Step, path: str, parent_id: str | None, pipe: str, index: int, depth: int
) -> Iterator[StepEntry]:
    yield StepEntry(step.id, "step", step.type, path, parent_id, pipe, index, depth, step)
    if isinstance(step, SwitchStep):
        for case_index, case in enumerate(step.cases):
            case_path = join_path(join_path(path, "cases"), case_index)
            yield StepEntry(
                case.id, "case", "case", case_path, step.id, "cases", case_index, depth + 1, case
            )
            yield from _walk_pipe(
                case.steps, join_path(case_path, "steps"), case.id, "steps", depth + 2
            )
    if isinstance(step, ParallelStep):
        for branch_index, branch in enumerate(step.branches):
            branch_path = join_path(join_path(path, "branches"), branch_index)
            yield StepEntry(
                branch.id,
                "branch",
                "branch",
                branch_path,
                step.id,
                "branches",
                branch_index,
                depth + 1,
                branch,
            )
            yield from _walk_pipe(
                branch.steps, join_path(branch_path, "steps"), branch.id, "steps", depth + 2
            )
    for pipe_name, pipe_steps in child_pipes(step):
        yield from _walk_pipe(pipe_steps, join_path(path, pipe_name), step.id, pipe_name, depth + 1)
