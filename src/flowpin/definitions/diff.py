"""The difference between two versions of a workflow, by step id, and what it means for the runs
in flight on the first one (SPEC §5).

``diff_definitions(a, b)`` lists, per step (and per switch case or parallel branch, which carry
ids like steps): ``added``, ``removed``, ``typeChanged``, ``moved`` (another parent or pipe, or
another order among the siblings both versions share) and ``changed`` with one entry per field
that differs (``config``, each ``expression``, ``retry``, ``rules``, ``output`` mapping). A step
can have several changes (moved *and* changed).

``assess(changes, a, positions)`` then counts, for each change, the active runs of ``a`` that
are ``at`` the step (parked on it or inside it), ``before`` it (they can still reach it) and
``after`` it (past it, or on a route that never meets it), and classifies the change:

- ``needs-mapping``: an active run sits on a step that was removed, changed type or moved under
  another parent: moving such a run to ``b`` needs a mapping for it;
- ``affects-in-flight``: some active run is at the step or can still reach it, and would behave
  differently on ``b``;
- ``safe``: no active run can reach it differently.

Runs stay on their own version unless an operator moves them, so a ``needs-mapping`` change is a
statement about migration, never about what happens to the runs by itself. ``positions`` are the
runs' active leaves as step ids (several for parallel branches or concurrent loop iterations);
reachability follows the tree: the rest of each enclosing pipeline, the whole body of an
enclosing forEach (later iterations), the catch of an enclosing tryCatch; never the other arm of
an if or switch that was already decided, nor another parallel branch (it has its own leaves).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flowpin.definitions.models import Definition
from flowpin.definitions.walk import StepEntry, StepIndex, index_steps, join_path
from flowpin.expressions.values import is_expr, is_secret

ChangeKind = Literal["added", "removed", "typeChanged", "moved", "changed"]
FieldKind = Literal["config", "expression", "retry", "rules", "output", "settings"]
Classification = Literal["safe", "affects-in-flight", "needs-mapping"]

NESTED = frozenset(
    {"then", "else", "default", "body", "try", "catch", "steps", "cases", "branches"}
)
"""Keys holding nested steps, cases or branches: compared as steps of their own, not as fields."""
OUTPUT_KEYS = frozenset({"saveAs", "captureErrorAs", "output", "collect"})
RULE_KEYS = frozenset({"condition", "when"})


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    """Inside the step, as written: ``config.inputMapping.to``, ``retry.maxAttempts``."""
    kind: FieldKind
    before: Any
    after: Any
    """``None`` with ``present`` false on that side when the field is absent there."""
    present: tuple[bool, bool] = (True, True)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"path": self.path, "kind": self.kind}
        if self.present[0]:
            result["from"] = self.before
        if self.present[1]:
            result["to"] = self.after
        return result


@dataclass(frozen=True, slots=True)
class Place:
    parent: str | None
    pipe: str
    index: int
    path: str

    @classmethod
    def of(cls, entry: StepEntry) -> Place:
        return cls(entry.parent_id, entry.pipe, entry.index, entry.path)

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "pipe": self.pipe, "index": self.index, "path": self.path}


@dataclass(frozen=True, slots=True)
class StepChange:
    step_id: str
    change: ChangeKind
    type: str
    """The step type in ``b`` (in ``a`` for a removed step)."""
    before: Place | None
    after: Place | None
    from_type: str | None = None
    fields: tuple[FieldChange, ...] = ()
    moved: Literal["parent", "order"] | None = None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {"stepId": self.step_id, "change": self.change, "type": self.type}
        if self.from_type is not None:
            result["fromType"] = self.from_type
        if self.moved is not None:
            result["moved"] = self.moved
        result["from"] = self.before.to_dict() if self.before else None
        result["to"] = self.after.to_dict() if self.after else None
        if self.fields:
            result["fields"] = [f.to_dict() for f in self.fields]
        return result


@dataclass(frozen=True, slots=True)
class Impact:
    at: int = 0
    before: int = 0
    after: int = 0
    classification: Classification = "safe"

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": {"at": self.at, "before": self.before, "after": self.after},
            "classification": self.classification,
        }


@dataclass(frozen=True, slots=True)
class DefinitionDiff:
    steps: tuple[StepChange, ...]
    workflow: tuple[FieldChange, ...] = field(default=())
    """Changes outside the steps: triggers, payloadSchema, output, settings, name."""


# ------------------------------------------------------------------------------------ diff


def diff_definitions(a: Definition, b: Definition) -> DefinitionDiff:
    """Every difference between ``a`` and ``b``, steps in the document order of ``b`` (removed
    ones in that of ``a``, after them)."""
    old, new = index_steps(a), index_steps(b)
    changes: list[StepChange] = []
    out_of_order = _out_of_order(old, new)
    for entry in new.entries:
        if entry.id in new.by_id and new.by_id[entry.id] is not entry:
            continue  # a duplicate id: validation reports it; the first one stands for it
        was = old.get(entry.id)
        if was is None:
            changes.append(StepChange(entry.id, "added", entry.type, None, Place.of(entry)))
            continue
        before, after = Place.of(was), Place.of(entry)
        if was.type != entry.type:
            changes.append(
                StepChange(entry.id, "typeChanged", entry.type, before, after, from_type=was.type)
            )
            continue
        if (was.parent_id, was.pipe) != (entry.parent_id, entry.pipe):
            changes.append(StepChange(entry.id, "moved", entry.type, before, after, moved="parent"))
        elif entry.id in out_of_order:
            changes.append(StepChange(entry.id, "moved", entry.type, before, after, moved="order"))
        fields = tuple(_field_changes(_own_fields(was), _own_fields(entry)))
        if fields:
            changes.append(
                StepChange(entry.id, "changed", entry.type, before, after, fields=fields)
            )
    for entry in old.entries:
        if entry.id not in new and old.by_id.get(entry.id) is entry:
            changes.append(StepChange(entry.id, "removed", entry.type, Place.of(entry), None))
    workflow = tuple(_field_changes(_workflow_fields(a), _workflow_fields(b)))
    return DefinitionDiff(tuple(changes), workflow)


def _out_of_order(old: StepIndex, new: StepIndex) -> set[str]:
    """Ids whose order among the siblings both versions share changed: those not on a longest
    common subsequence of the shared siblings of each pipe (so one step moved up is one move,
    not a shift of everything between)."""
    moved: set[str] = set()
    pipes: dict[tuple[str | None, str], list[str]] = {}
    for entry in new.entries:
        pipes.setdefault((entry.parent_id, entry.pipe), []).append(entry.id)
    for (parent, pipe), ids in pipes.items():
        before = [
            e.id
            for e in old.entries
            if e.parent_id == parent and e.pipe == pipe and e.id in new and e.id in ids
        ]
        after = [i for i in ids if i in set(before)]
        kept = set(_lcs(before, after))
        moved.update(i for i in after if i not in kept)
    return moved


def _lcs(a: list[str], b: list[str]) -> list[str]:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            if a[i] == b[j]:
                table[i][j] = table[i + 1][j + 1] + 1
            else:
                table[i][j] = max(table[i + 1][j], table[i][j + 1])
    result, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            result.append(a[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return result


def _own_fields(entry: StepEntry) -> dict[str, Any]:
    """The step's own JSON without what nests other steps (and without its id and type)."""
    document = entry.node.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return {k: v for k, v in document.items() if k not in NESTED and k not in ("id", "type")}


def _workflow_fields(definition: Definition) -> dict[str, Any]:
    document = definition.to_json()
    return {k: v for k, v in document.items() if k not in ("steps", "key")}


_ABSENT = object()


def _field_changes(before: Any, after: Any, path: str = "") -> Iterable[FieldChange]:
    if _is_leaf(before, path) or _is_leaf(after, path):
        if before != after:
            yield _leaf_change(path, before, after)
        return
    for key in list(before) + [k for k in after if k not in before]:
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        sub = join_path(path, key)
        if old is _ABSENT or new is _ABSENT:
            yield _leaf_change(sub, old, new)
        else:
            yield from _field_changes(old, new, sub)


def _is_leaf(value: Any, path: str) -> bool:
    top = path.split(".", 1)[0].split("[", 1)[0]
    return (
        not isinstance(value, dict)
        or is_expr(value)
        or is_secret(value)
        or (path != "" and top in RULE_KEYS)
    )


def _leaf_change(path: str, before: Any, after: Any) -> FieldChange:
    present = (before is not _ABSENT, after is not _ABSENT)
    old = None if before is _ABSENT else before
    new = None if after is _ABSENT else after
    return FieldChange(path, _field_kind(path, old, new), old, new, present)


def _field_kind(path: str, before: Any, after: Any) -> FieldKind:
    parts = path.replace("[", ".").split(".")
    top, last = parts[0], parts[-1]
    if top == "retry":
        return "retry"
    if top in RULE_KEYS:
        return "expression" if is_expr(before) and is_expr(after) else "rules"
    if is_expr(before) or is_expr(after):
        return "expression"
    if top in OUTPUT_KEYS or last in OUTPUT_KEYS:
        return "output"
    if top == "config":
        return "config"
    return "settings"


# ------------------------------------------------------------------------------ impact


def reachable(index: StepIndex, step_id: str) -> set[str]:
    """The steps a position at ``step_id`` can still execute, not counting itself (unless a
    loop brings it back): see the module docstring."""
    result: set[str] = set()
    current = index.get(step_id)
    while current is not None:
        if current.kind == "step":
            for sibling in index.siblings(current.id):
                if sibling.index > current.index:
                    result.update(_subtree(index, sibling.id))
        parent = index.get(current.parent_id) if current.parent_id is not None else None
        if parent is not None and parent.type == "control.forEach":
            for child in index.children(parent.id, "body"):
                result.update(_subtree(index, child.id))
        if parent is not None and parent.type == "control.tryCatch" and current.pipe == "try":
            for child in index.children(parent.id, "catch"):
                result.update(_subtree(index, child.id))
        current = parent
    return result


def _subtree(index: StepIndex, step_id: str) -> set[str]:
    """``step_id`` and everything nested in it (entries are in pre-order: parents first)."""
    found = {step_id}
    for entry in index.entries:
        if entry.parent_id in found:
            found.add(entry.id)
    return found


def _inside(index: StepIndex, leaf: str, step_id: str) -> bool:
    """Whether a position at ``leaf`` is at ``step_id`` or inside it."""
    if leaf == step_id:
        return True
    return leaf in index and any(a.id == step_id for a in index.ancestors(leaf))


class _Reach:
    """Reachability per leaf step, computed once per leaf."""

    def __init__(self, index: StepIndex) -> None:
        self.index = index
        self._cache: dict[str, set[str]] = {}

    def __call__(self, leaf: str) -> set[str]:
        found = self._cache.get(leaf)
        if found is None:
            found = reachable(self.index, leaf) if leaf in self.index else set()
            self._cache[leaf] = found
        return found


def assess(
    diff: DefinitionDiff,
    a: Definition,
    b: Definition,
    positions: Mapping[frozenset[str], int],
) -> list[Impact]:
    """The impact of each change of ``diff.steps`` (same order) on the active runs of ``a``,
    given as ``{frozenset(leaf step ids): number of runs}``."""
    old, new = index_steps(a), index_steps(b)
    reach = _Reach(old)
    total = sum(positions.values())
    impacts = []
    for change in diff.steps:
        at = before = 0
        for leaves, count in positions.items():
            if change.change == "added":
                if any(
                    _reaches_insertion(old, new, reach, leaf, change.step_id) for leaf in leaves
                ):
                    before += count
            elif any(_inside(old, leaf, change.step_id) for leaf in leaves):
                at += count
            elif any(change.step_id in reach(leaf) for leaf in leaves):
                before += count
        impacts.append(Impact(at, before, total - at - before, _classify(change, at, before)))
    return impacts


def _classify(change: StepChange, at: int, before: int) -> Classification:
    if at and (
        change.change in ("removed", "typeChanged")
        or (change.change == "moved" and change.moved == "parent")
    ):
        return "needs-mapping"
    if at or before:
        return "affects-in-flight"
    return "safe"


def _reaches_insertion(
    old: StepIndex, new: StepIndex, reach: _Reach, leaf: str, step_id: str
) -> bool:
    """Whether a position at ``leaf`` (in ``old``) will pass where ``new`` inserted
    ``step_id``: before the next sibling both share, or after the previous one, or on entering
    the enclosing step (an added enclosing step counts as inserted where it is)."""
    entry = new[step_id]
    siblings = new.siblings(step_id)

    def shared(other: StepEntry) -> bool:
        was = old.get(other.id)
        return was is not None and (was.parent_id, was.pipe) == (entry.parent_id, entry.pipe)

    following = [s for s in siblings if s.index > entry.index and shared(s)]
    if following:
        return following[0].id in reach(leaf)
    preceding = [s for s in siblings if s.index < entry.index and shared(s)]
    if preceding:
        anchor = preceding[-1].id
        return _inside(old, leaf, anchor) or anchor in reach(leaf)
    parent = entry.parent_id
    if parent is None:
        return False
    if parent not in old:
        return _reaches_insertion(old, new, reach, leaf, parent)
    looping = old[parent].type == "control.forEach" and _inside(old, leaf, parent)
    return looping or parent in reach(leaf)
