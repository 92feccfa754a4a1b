"""Cycles of ``control.callWorkflow`` between a tenant's published workflows (SPEC §8).

A workflow that calls itself, directly (a → a) or through others (a → b → a), starts runs
until the call depth limit fails the deepest one. Publishing is allowed - a recursion may end
by a condition - but gets a ``CALL_CYCLE`` warning naming the cycle's path.

The graph's nodes are the versions a call would run: ``version: "latest"`` follows each
workflow's newest version (for the workflow being published: the definition being published),
a pinned number follows that version. Only cycles reachable from the definition being published
are reported, once each, at the call step of that definition they are reached through.
"""

from __future__ import annotations

from collections.abc import Iterator

from flowpin.definitions.loader import Problem
from flowpin.definitions.models import CallWorkflowStep, Definition
from flowpin.definitions.walk import index_steps
from flowpin.store.database import Connection
from flowpin.store.workflows import definition_of

CALL_CYCLE = "CALL_CYCLE"

_Node = tuple[str, int | str]
"""A workflow key and the version a call runs: a number, or "latest"."""


def call_cycles(conn: Connection, tenant_id: str, definition: Definition) -> list[Problem]:
    """A warning per cycle reachable from ``definition``'s call steps."""
    graph = _Graph(conn, tenant_id, definition)
    start: _Node = (definition.key, "latest")
    problems: list[Problem] = []
    seen: set[frozenset[_Node]] = set()
    for step, path in _calls(definition):
        for cycle in graph.cycles_from(start, (step.workflow_key, step.version)):
            members = frozenset(cycle)
            if members in seen:
                continue
            seen.add(members)
            route = " → ".join(key for key, _version in cycle)
            problems.append(
                Problem(
                    code=CALL_CYCLE,
                    message=f"control.callWorkflow cycle {route}: every run starts another "
                    "until the call depth limit fails it (limit.depth); make sure a condition "
                    "ends it",
                    path=path,
                    step_id=step.id,
                    severity="warning",
                    details={"cycle": [key for key, _version in cycle]},
                )
            )
    return problems


def _calls(definition: Definition) -> Iterator[tuple[CallWorkflowStep, str]]:
    for entry in index_steps(definition).steps():
        if isinstance(entry.node, CallWorkflowStep):
            yield entry.node, entry.path


class _Graph:
    """Call edges, read from the database as the search reaches each version."""

    def __init__(self, conn: Connection, tenant_id: str, definition: Definition) -> None:
        self._conn = conn
        self._tenant_id = tenant_id
        self._new = definition
        self._documents: dict[_Node, object | None] = {}
        self._edges: dict[_Node, list[_Node]] = {
            (definition.key, "latest"): [(s.workflow_key, s.version) for s, _ in _calls(definition)]
        }

    def cycles_from(self, start: _Node, first: _Node) -> Iterator[list[_Node]]:
        """Each cycle met on a depth-first walk from ``start`` through ``first``, as the list
        of its nodes with the first repeated at the end (a → b → a)."""
        path = [start]
        on_path = {self._canonical(start): 0}
        done: set[_Node] = set()
        children = [iter([first])]  # children[i]: what path[i] calls, still to visit
        while children:
            child = next(children[-1], None)
            if child is None:
                children.pop()
                node = self._canonical(path.pop())
                del on_path[node]
                done.add(node)
                continue
            node = self._canonical(child)
            if node in on_path:
                yield [*path[on_path[node] :], child]
                continue
            if node in done:
                continue
            on_path[node] = len(path)
            path.append(child)
            children.append(iter(self._callees(node)))

    def _canonical(self, node: _Node) -> _Node:
        """The same node for a call of the new definition by number and by "latest"."""
        key, version = node
        if key == self._new.key and version != "latest" and self._version_of(node) is None:
            return (key, "latest")  # a number not published yet: the definition being published
        return node

    def _callees(self, node: _Node) -> list[_Node]:
        edges = self._edges.get(node)
        if edges is None:
            document = self._version_of(node)
            edges = []
            if document is not None:
                definition = Definition.model_validate(document)
                edges = [(s.workflow_key, s.version) for s, _ in _calls(definition)]
            self._edges[node] = edges
        return edges

    def _version_of(self, node: _Node) -> object | None:
        if node in self._documents:
            return self._documents[node]
        key, version = node
        document = definition_of(self._conn, self._tenant_id, key, version)
        self._documents[node] = document
        return document
