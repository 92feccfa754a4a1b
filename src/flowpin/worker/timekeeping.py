"""Timekeeping, done by whichever worker gets there first: due timers and timeouts resolve
their waits, due cron slots start their runs."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.observability import metrics
from flowpin.store import claims
from flowpin.store import tables as t
from flowpin.store.notify import signal_work
from flowpin.store.runs import NewRun, PayloadInvalid, insert_runs
from flowpin.store.waits import EndedWait, iso, resolve_waits
from flowpin.store.workflows import next_slot
from flowpin.worker.definitions import DefinitionCache

log = logging.getLogger("flowpin.engine")


def fire_due_waits(conn: Connection, now: datetime) -> int:
    """Resolve due waits in set-based batches: one inbox insert, one task update and one
    wake-up for the whole batch (on PostgreSQL: one statement for all of it)."""
    if conn.dialect.name == "postgresql":
        lateness = claims.resolve_due_waits_pg(conn, now)
        if lateness:
            signal_work(conn)
            metrics.observe_lateness(lateness)
        return len(lateness)
    due = {wait.id: wait for wait in claims.due_waits(conn, now)}
    fired = resolve_waits(
        conn,
        [
            EndedWait(wait.id, wait.run_id, wait.token, _input_kind(wait.kind), {})
            for wait in sorted(due.values(), key=lambda wait: wait.id)  # inbox rows in wait order
        ],
        now,
    )
    if not fired:
        return 0
    metrics.observe_lateness(
        (now - claims.aware(due[ended.wait_id].due_at)).total_seconds() for ended in fired
    )
    tasks = [due[e.wait_id].ref_id for e in fired if due[e.wait_id].kind == "task"]
    if tasks:
        conn.execute(
            t.human_tasks.update()
            .where(t.human_tasks.c.id.in_(tasks), t.human_tasks.c.status == "open")
            .values(status="timed_out", completed_at=now)
        )
    return len(fired)


def _input_kind(wait_kind: str) -> str:
    """A timer's wait delivers ``timer``; an event's or a task's deadline ``timeout``."""
    return "timer" if wait_kind == "timer" else "timeout"


def fire_schedules(conn: Connection, now: datetime, definitions: DefinitionCache) -> int:
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
            definition = definitions.definition_in(conn, row.version_id)
            new = NewRun(
                tenant_id=row.tenant_id,
                workflow_id=row.workflow_id,
                workflow_key=row.key,
                version_id=row.version_id,
                version_number=row.number,
                definition=definition,
                payload=row.payload or {},
                idempotency_key=f"schedule:{row.trigger_index}:{iso(slot)}",
                trigger=f"schedule:{row.cron}",
            )
            try:
                [values] = insert_runs(conn, [new], now)
            except PayloadInvalid as exc:  # its concurrencyKey: the slot is skipped
                log.warning("schedule slot %s of %s started no run: %s", slot, row.key, exc)
                values = None
            started += values is not None
        conn.execute(
            t.schedules.update()
            .where(t.schedules.c.id == row.id, t.schedules.c.next_fire_at == slot)
            .values(next_fire_at=next_slot(row.cron, row.timezone, max(slot, now)))
        )
    return started
