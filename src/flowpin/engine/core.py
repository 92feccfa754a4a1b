"""What the Engine facade and its workers share: the database, the registry, the clock, the
definition cache, in-process wake-ups, and the timekeeping writes (timers, schedules)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.clock import Clock
from flowpin.definitions.models import Definition, NodeStep, RetryPolicy
from flowpin.definitions.walk import index_steps
from flowpin.engine.publishing import next_slot
from flowpin.engine.redaction import DEFAULT_KEYS, Redactor
from flowpin.engine.signals import add_inbox, iso, wake_runs
from flowpin.engine.starting import NewRun, insert_run
from flowpin.expressions.values import iter_secrets
from flowpin.store import claims
from flowpin.store import tables as t
from flowpin.store.database import Database
from flowpin.worker.checkpoint import Services
from flowpin.worker.executor import ActionExecutor


class EnvironmentSecrets:
    """Embedded mode: ``{"$secret": "SMTP_PASSWORD"}`` reads ``FLOWPIN_SECRET_SMTP_PASSWORD``."""

    def __call__(self, tenant_id: str, name: str) -> str:
        value = os.environ.get(f"FLOWPIN_SECRET_{name}")
        if value is None:
            raise KeyError(name)
        return value


class _Services(Services):
    def __init__(self, core: Core, owner: str) -> None:
        self.core = core
        self.lease_owner = owner
        self.lease_seconds = core.lease_seconds
        self.schemas = core.registry

    def definition(self, conn: Connection, version_id: int) -> Definition:
        return self.core.definition_in(conn, version_id)

    def redact(self, value: Any) -> Any:
        return self.core.redactor(value)


class Core:
    def __init__(
        self,
        db: Database,
        registry: Any,
        clock: Clock,
        *,
        secrets: Callable[[str, str], str] | None = None,
        stubs: dict[str, Callable[..., Any]] | None = None,
        lease_seconds: float = 30.0,
        redact_keys: str | None = DEFAULT_KEYS,
    ) -> None:
        self.db = db
        self.redactor = Redactor(redact_keys)
        """Masks sensitive keys in stored step history (the run's state keeps real values)."""
        self.registry = registry
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.executor = ActionExecutor(
            registry, clock, secrets or EnvironmentSecrets(), stubs=stubs
        )
        self._definitions: dict[int, Definition] = {}
        self._secret_steps: dict[int, frozenset[str]] = {}
        self._definitions_lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()

    # ---------------------------------------------------------------- wake-ups

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def notify(self) -> None:
        """New work exists in this process (a start, an event, a checkpoint): wake workers."""
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    # ---------------------------------------------------------------- definitions

    def definition_in(self, conn: Connection, version_id: int) -> Definition:
        cached = self._definitions.get(version_id)
        if cached is not None:
            return cached
        document = conn.execute(
            sa.select(t.workflow_versions.c.definition).where(
                t.workflow_versions.c.id == version_id
            )
        ).scalar_one()
        definition = Definition.model_validate(document)
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

    def action_retry(self, action_id: str, version: int) -> RetryPolicy | None:
        spec = self.registry.action(action_id, version)
        return getattr(spec, "retry", None) if spec is not None else None

    def services(self, owner: str) -> Services:
        return _Services(self, owner)

    # ---------------------------------------------------------------- timekeeping

    def fire_due_waits(self, conn: Connection, now: datetime) -> int:
        fired = claims.fire_due_waits(conn, now)
        woken: list[str] = []
        for wait in fired:
            if wait.kind == "timer":
                add_inbox(conn, wait.run_id, wait.token, "timer", {}, now)
            else:
                add_inbox(conn, wait.run_id, wait.token, "timeout", {}, now)
                if wait.kind == "task":
                    conn.execute(
                        t.human_tasks.update()
                        .where(t.human_tasks.c.id == wait.ref_id, t.human_tasks.c.status == "open")
                        .values(status="timed_out", completed_at=now)
                    )
            woken.append(wait.run_id)
        wake_runs(conn, woken, now)
        return len(fired)

    def fire_schedules(self, conn: Connection, now: datetime) -> int:
        """Start one run per due cron slot; the slot's idempotency key makes a second worker's
        attempt at the same slot a no-op."""
        rows = conn.execute(
            sa.select(
                t.schedules, t.workflows.c.key, t.workflows.c.paused, t.workflow_versions.c.number
            )
            .join(t.workflows, t.workflows.c.id == t.schedules.c.workflow_id)
            .join(t.workflow_versions, t.workflow_versions.c.id == t.schedules.c.version_id)
            .where(t.schedules.c.next_fire_at <= now)
        ).all()
        started = 0
        for row in rows:
            slot = row.next_fire_at
            if not row.paused:
                definition = self.definition_in(conn, row.version_id)
                run_id = insert_run(
                    conn,
                    NewRun(
                        tenant_id=row.tenant_id,
                        workflow_id=row.workflow_id,
                        workflow_key=row.key,
                        version_id=row.version_id,
                        version_number=row.number,
                        payload=row.payload or {},
                        idempotency_key=f"schedule:{row.trigger_index}:{iso(slot)}",
                        trigger=f"schedule:{row.cron}",
                    ),
                    definition,
                    now,
                )
                started += run_id is not None
            conn.execute(
                t.schedules.update()
                .where(t.schedules.c.id == row.id, t.schedules.c.next_fire_at == slot)
                .values(next_fire_at=next_slot(row.cron, row.timezone, max(slot, now)))
            )
        return started
