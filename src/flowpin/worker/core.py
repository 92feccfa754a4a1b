"""What the Engine facade and its workers share: the database, the registry, the clock, the
definition cache, in-process wake-ups, and the timekeeping writes (timers, schedules)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.clock import Clock
from flowpin.definitions.models import Definition, NodeStep, RetryPolicy
from flowpin.definitions.pointers import Pointer
from flowpin.definitions.walk import index_steps
from flowpin.expressions.values import iter_secrets
from flowpin.observability import metrics
from flowpin.runtime.decisions import HistoryEntry
from flowpin.security.redaction import (
    DEFAULT_KEYS,
    Delivery,
    Masks,
    Placement,
    Redactor,
    compile_pointers,
    deliveries,
    placed,
    placements,
    scoped_vars,
)
from flowpin.store import claims
from flowpin.store import tables as t
from flowpin.store.database import Database
from flowpin.store.notify import signal_work
from flowpin.store.runs import NewRun, PayloadInvalid, insert_run
from flowpin.store.waits import iso, wake_runs
from flowpin.store.workflows import next_slot
from flowpin.worker.checkpoint import Services
from flowpin.worker.executor import ActionExecutor

log = logging.getLogger("flowpin.engine")

DEFAULT_MAX_STEPS_PER_RUN = 10_000
MAX_STEPS_ENV = "FLOWPIN_MAX_STEPS_PER_RUN"
DEFAULT_MAX_CALL_DEPTH = 16
MAX_CALL_DEPTH_ENV = "FLOWPIN_MAX_CALL_DEPTH"
DEFAULT_MAX_CHILDREN_PER_RUN = 1_000
MAX_CHILDREN_ENV = "FLOWPIN_MAX_CHILDREN_PER_RUN"
DELIVERY_SLACK = timedelta(minutes=5)
"""How far before a run's last logical time a checkpoint looks for the task data, events and
action outputs it consumed (clocks of the API and worker processes may differ a little)."""
DELIVERED_ROWS = 200
"""At most this many of a run's latest resolved event waits, and action results, are looked
up for masks."""


def _no_secrets(tenant_id: str, name: str) -> str:
    raise KeyError(name)


class _Services(Services):
    def __init__(self, core: Core, owner: str) -> None:
        self.core = core
        self.lease_owner = owner
        self.lease_seconds = core.lease_seconds
        self.schemas = core.registry
        self.max_steps_per_run = core.max_steps_per_run
        self.max_call_depth = core.max_call_depth
        self.max_children_per_run = core.max_children_per_run

    def definition(self, conn: Connection, version_id: int) -> Definition:
        return self.core.definition_in(conn, version_id)

    def redact(self, value: Any) -> Any:
        return self.core.redactor(value)

    def history_redactor(
        self,
        conn: Connection,
        run: Any,
        state: dict[str, Any],
        history: Sequence[HistoryEntry],
    ) -> Callable[[Any], Any]:
        """Masks for the values at the workflow's pointers: in ``state`` and in the envelope
        the run was claimed with, those ``history`` says its steps saved there (maybe
        overwritten since), and those read back from the run's completed tasks, received
        events and action results (saved by any claim, in any process)."""
        definition = self.definition(conn, run.version_id)
        pointers = self.core.pointers(run.version_id, definition)
        if not pointers:
            return self.redact
        claimed = run.state if isinstance(run.state, dict) else {}
        earlier = [claimed["envelope"]] if claimed.get("envelope") is not None else []
        steps = self.core.deliveries(run.version_id, definition)
        if steps:  # what steps saved now, maybe overwritten before this write
            last = claimed.get("t")
            since = (
                datetime.fromtimestamp(last / 1000, UTC) - DELIVERY_SLACK
                if isinstance(last, int | float)
                else None
            )
            earlier.extend(delivered(conn, run.tenant_id, run.id, steps, since))
        placing = self.core.placements(run.version_id, definition)
        if placing:  # what this write's steps saved, maybe overwritten before it
            earlier.extend(placed(history, placing))
        masks = Masks(
            pointers,
            state.get("envelope"),
            scoped_vars(state.get("root")),
            earlier=earlier,
        )
        if not masks:
            return self.redact
        redactor = self.core.redactor
        return lambda value: redactor(masks(value))


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
        redact_pointers: list[str] | None = None,
        max_steps_per_run: int | None = None,
        max_call_depth: int | None = None,
        max_children_per_run: int | None = None,
    ) -> None:
        self.db = db
        self.redactor = Redactor(redact_keys)
        """Masks sensitive keys in stored step history (the run's state keeps real values)."""
        self.redact_pointers = compile_pointers(redact_pointers)
        """Engine-wide redaction pointers, added to each workflow's ``settings.redact``."""
        self.max_steps_per_run = (
            max_steps_per_run
            if max_steps_per_run is not None
            else int(os.environ.get(MAX_STEPS_ENV, DEFAULT_MAX_STEPS_PER_RUN))
        )
        self.max_call_depth = (
            max_call_depth
            if max_call_depth is not None
            else int(os.environ.get(MAX_CALL_DEPTH_ENV, DEFAULT_MAX_CALL_DEPTH))
        )
        self.max_children_per_run = (
            max_children_per_run
            if max_children_per_run is not None
            else int(os.environ.get(MAX_CHILDREN_ENV, DEFAULT_MAX_CHILDREN_PER_RUN))
        )
        self._pointers: dict[int, tuple[Pointer, ...]] = {}
        self._deliveries: dict[int, tuple[Delivery, ...]] = {}
        self._placements: dict[int, dict[str, Placement]] = {}
        self.key_revocations = 0
        """Counts API keys revoked through this process; API key caches drop their entries
        when it changes (a revocation takes effect at once here)."""
        self.registry = registry
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.executor = ActionExecutor(registry, clock, secrets or _no_secrets, stubs=stubs)
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

    def pointers(self, version_id: int, definition: Definition) -> tuple[Pointer, ...]:
        """The redaction pointers of a version's runs: the engine's plus the definition's."""
        cached = self._pointers.get(version_id)
        if cached is None:
            own = definition.settings.redact if definition.settings is not None else []
            cached = self.redact_pointers + compile_pointers(own)
            self._pointers[version_id] = cached
        return cached

    def deliveries(self, version_id: int, definition: Definition) -> tuple[Delivery, ...]:
        """The steps of a version that save task data or event payloads under a pointer."""
        cached = self._deliveries.get(version_id)
        if cached is None:
            cached = deliveries(definition, self.pointers(version_id, definition))
            self._deliveries[version_id] = cached
        return cached

    def placements(self, version_id: int, definition: Definition) -> dict[str, Placement]:
        """The steps of a version whose history entries carry values written where a pointer
        looks, and where they wrote them."""
        cached = self._placements.get(version_id)
        if cached is None:
            cached = placements(definition, self.pointers(version_id, definition))
            self._placements[version_id] = cached
        return cached

    def masks_for_view(self, tenant_id: str, view: dict[str, Any]) -> Masks | None:
        """The pointer masks of a run as ``get_run`` shows it (None when none apply)."""
        return self.masks_for_runs(tenant_id, [view["runId"]]).get(view["runId"])

    def masks_for_row(self, conn: Connection, tenant_id: str, row: Any) -> Masks | None:
        """``masks_for_view`` of a run row already read, in the same transaction."""
        definition = self.definition_in(conn, row.version_id)
        pointers = self.pointers(row.version_id, definition)
        if not pointers:
            return None
        state = row.state if isinstance(row.state, dict) else {}
        steps = self.deliveries(row.version_id, definition)
        earlier = delivered(conn, tenant_id, row.id, steps, None) if steps else []
        masks = Masks(pointers, state.get("envelope"), scoped_vars(state.get("root")), earlier)
        return masks if masks else None

    def masks_for_new(
        self, version_id: int, definition: Definition, state: dict[str, Any]
    ) -> Masks | None:
        """``masks_for_view`` of a run just created with ``state`` (no step has saved anything
        yet), from the version's cached pointers: no database read."""
        pointers = self.pointers(version_id, definition)
        if not pointers:
            return None
        masks = Masks(pointers, state.get("envelope"), scoped_vars(state.get("root")), [])
        return masks if masks else None

    def masks_for_runs(self, tenant_id: str, run_ids: Iterable[str]) -> dict[str, Masks]:
        """The pointer masks of each of ``run_ids`` (of this tenant) that has some: values at
        the pointers in its envelope, its running scopes, and the task data and event payloads
        its steps saved there."""
        wanted = sorted({run_id for run_id in run_ids if run_id})
        if not wanted:
            return {}
        result: dict[str, Masks] = {}
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(t.runs.c.id, t.runs.c.version_id, t.runs.c.state).where(
                    t.runs.c.tenant_id == tenant_id, t.runs.c.id.in_(wanted)
                )
            ).all()
            for row in rows:
                definition = self.definition_in(conn, row.version_id)
                pointers = self.pointers(row.version_id, definition)
                if not pointers:
                    continue
                state = row.state if isinstance(row.state, dict) else {}
                steps = self.deliveries(row.version_id, definition)
                earlier = delivered(conn, tenant_id, row.id, steps, None) if steps else []
                masks = Masks(
                    pointers, state.get("envelope"), scoped_vars(state.get("root")), earlier
                )
                if masks:
                    result[row.id] = masks
        return result

    def action_retry(self, action_id: str, version: int) -> RetryPolicy | None:
        spec = self.registry.action(action_id, version)
        return getattr(spec, "retry", None) if spec is not None else None

    def services(self, owner: str) -> Services:
        return _Services(self, owner)

    # ---------------------------------------------------------------- timekeeping

    def fire_due_waits(self, conn: Connection, now: datetime) -> int:
        """Resolve due waits in set-based batches: one inbox insert, one task update and one
        wake-up for the whole batch (on PostgreSQL: one statement for all of it)."""
        if conn.dialect.name == "postgresql":
            lateness = claims.resolve_due_waits_pg(conn, now)
            if lateness:
                signal_work(conn)
                metrics.observe_lateness(lateness)
            return len(lateness)
        fired = claims.fire_due_waits(conn, now)
        if not fired:
            return 0
        metrics.observe_lateness(
            (now - claims.aware(wait.due_at)).total_seconds() for wait in fired
        )
        conn.execute(
            t.run_inbox.insert(),
            [
                {
                    "run_id": wait.run_id,
                    "token": wait.token,
                    "kind": "timer" if wait.kind == "timer" else "timeout",
                    "body": {},
                    "at": now,
                }
                for wait in fired
            ],
        )
        tasks = [wait.ref_id for wait in fired if wait.kind == "task"]
        if tasks:
            conn.execute(
                t.human_tasks.update()
                .where(t.human_tasks.c.id.in_(tasks), t.human_tasks.c.status == "open")
                .values(status="timed_out", completed_at=now)
            )
        wake_runs(conn, [wait.run_id for wait in fired], now)
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
                new = NewRun(
                    tenant_id=row.tenant_id,
                    workflow_id=row.workflow_id,
                    workflow_key=row.key,
                    version_id=row.version_id,
                    version_number=row.number,
                    payload=row.payload or {},
                    idempotency_key=f"schedule:{row.trigger_index}:{iso(slot)}",
                    trigger=f"schedule:{row.cron}",
                )
                try:
                    run_id = insert_run(conn, new, definition, now)
                except PayloadInvalid as exc:  # its concurrencyKey: the slot is skipped
                    log.warning("schedule slot %s of %s started no run: %s", slot, row.key, exc)
                    run_id = None
                started += run_id is not None
            conn.execute(
                t.schedules.update()
                .where(t.schedules.c.id == row.id, t.schedules.c.next_fire_at == slot)
                .values(next_fire_at=next_slot(row.cron, row.timezone, max(slot, now)))
            )
        return started


def delivered(
    conn: Connection,
    tenant_id: str,
    run_id: str,
    steps: tuple[Delivery, ...],
    since: datetime | None,
) -> list[dict[str, Any]]:
    """Envelope-shaped documents with the data of the run's completed tasks, the payloads of
    the events its waits received and the outputs of its action calls (from the ledger), each
    at its step's ``saveAs`` (``since``: only those completed or resolved from then on). An
    event is found by its wait's name, key and time; another event of the same name and key
    received meanwhile is included too (masking more than needed, never less)."""
    documents: list[dict[str, Any]] = []
    calls = {step.step_id: step for step in steps if step.step_type == "action.call"}
    if calls:
        ledger = t.action_ledger
        query = (
            sa.select(ledger.c.step_id, ledger.c.output)
            .where(
                ledger.c.run_id == run_id,
                ledger.c.status == "succeeded",
                ledger.c.step_id.in_(sorted(calls)),
            )
            .order_by(ledger.c.updated_at.desc())
            .limit(DELIVERED_ROWS)
        )
        if since is not None:
            query = query.where(ledger.c.updated_at >= since)
        for row in conn.execute(query):
            documents.append(calls[row.step_id].placed(row.output))
    tasks = {step.step_id: step for step in steps if step.step_type == "human.task"}
    if tasks:
        query = sa.select(t.human_tasks.c.step_id, t.human_tasks.c.data).where(
            t.human_tasks.c.run_id == run_id,
            t.human_tasks.c.status == "completed",
            t.human_tasks.c.step_id.in_(sorted(tasks)),
        )
        if since is not None:
            query = query.where(t.human_tasks.c.completed_at >= since)
        for row in conn.execute(query):
            documents.append(tasks[row.step_id].placed(row.data))
    events = {step.step_id: step for step in steps if step.step_type == "event.wait"}
    if events:
        query = (
            sa.select(t.waits)
            .where(
                t.waits.c.run_id == run_id,
                t.waits.c.status == "resolved",
                t.waits.c.kind == "event",
                t.waits.c.step_id.in_(sorted(events)),
            )
            .order_by(t.waits.c.id.desc())
            .limit(DELIVERED_ROWS)
        )
        if since is not None:
            query = query.where(t.waits.c.resolved_at >= since)
        for wait in conn.execute(query).all():
            key = t.events.c.key
            payloads = conn.execute(
                sa.select(t.events.c.payload)
                .where(
                    t.events.c.tenant_id == tenant_id,
                    t.events.c.name == wait.event_name,
                    key.is_(None) if wait.correlation_key is None else key == wait.correlation_key,
                    t.events.c.received_at <= wait.resolved_at,
                    sa.or_(
                        t.events.c.received_at >= wait.created_at,
                        t.events.c.expires_at >= wait.created_at,
                    ),
                )
                .order_by(t.events.c.received_at.desc())
                .limit(5)
            ).scalars()
            documents.extend(events[wait.step_id].placed(payload) for payload in payloads)
    return documents
