"""The parsed definition of each published version, read once per process: versions are
immutable, so the cache never goes stale."""

from __future__ import annotations

import threading

from flowpin.definitions.models import Definition, NodeStep
from flowpin.definitions.walk import index_steps
from flowpin.expressions.values import iter_secrets
from flowpin.store.database import Connection, Database
from flowpin.store.workflows import version_definition


class DefinitionCache:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._definitions: dict[int, Definition] = {}
        self._secret_steps: dict[int, frozenset[str]] = {}
        self._definitions_lock = threading.Lock()

    def definition_in(self, conn: Connection, version_id: int) -> Definition:
        cached = self._definitions.get(version_id)
        if cached is not None:
            return cached
        definition = Definition.model_validate(version_definition(conn, version_id))
        with self._definitions_lock:
            self._definitions[version_id] = definition
        return definition

    def definition_by_version(self, version_id: int) -> Definition:
        cached = self._definitions.get(version_id)
        if cached is not None:
            return cached
        with self.db.read() as conn:
            return self.definition_in(conn, version_id)

    def secret_steps(self, version_id: int, definition: Definition) -> frozenset[str]:
        """Ids of the steps whose config references a ``$secret`` (only their inputs need the
        substitution walk at call time)."""
        cached = self._secret_steps.get(version_id)
        if cached is None:
            cached = frozenset(
                entry.id
                for entry in index_steps(definition).entries
                if isinstance(entry.node, NodeStep)
                and next(iter_secrets(entry.node.config), None) is not None
            )
            self._secret_steps[version_id] = cached
        return cached
