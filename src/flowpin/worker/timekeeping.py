"""Timekeeping, done by whichever worker gets there first: due timers and timeouts resolve
their waits, due cron slots start their runs."""

from __future__ import annotations

import logging
from datetime import datetime

from flowpin.store.database import Connection
from flowpin.store.runs import NewRun, PayloadInvalid, insert_runs
from flowpin.store.schedules import advance_schedule, due_schedules
from flowpin.store.waits import fire_due_waits, iso
from flowpin.worker.definitions import DefinitionCache

log = logging.getLogger("flowpin.engine")


def fire_due(conn: Connection, now: datetime, definitions: DefinitionCache) -> int:
    """Fire what is due: timers and timeouts (``store.waits.fire_due_waits``), then cron
    slots. Returns how many fired."""
    return fire_due_waits(conn, now) + fire_schedules(conn, now, definitions)


def fire_schedules(conn: Connection, now: datetime, definitions: DefinitionCache) -> int:
    """Start one run per due cron slot; the slot's idempotency key makes a second worker's
    attempt at the same slot a no-op."""
    started = 0
    for row in due_schedules(conn, now):
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
        advance_schedule(conn, row, now)
    return started
