"""Timekeeping, done by whichever worker gets there first: due timers and timeouts resolve
their waits, due cron slots start their runs; and when a worker looks for them at all
(``TimerWatch``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flowpin.definitions.models import Definition, ScheduleTrigger
from flowpin.runtime.decisions import Outcome
from flowpin.store.database import Connection
from flowpin.store.runs import NewRun, PayloadInvalid, insert_runs
from flowpin.store.schedules import (
    advance_schedule,
    catch_up,
    due_schedules,
    slot_key,
    start_meta,
)
from flowpin.store.waits import fire_due_waits
from flowpin.store.workflows import next_slot
from flowpin.worker.definitions import DefinitionCache

log = logging.getLogger("flowpin.engine")


class TimerWatch:
    """When a worker looks for due timers and schedule slots. Looking is a write transaction,
    and the worker's loop turns on every wake-up (each start, each run that ends), which
    rarely brings a timer due: it looks when told to (at first, on the poll - the backstop
    for the timers other processes made - and when a pass over due work found some), or when
    the earliest deadline it knows has come: the one its last look found, or one its own
    checkpoints set since."""

    def __init__(self) -> None:
        self._look = True
        self._next: datetime | None = None
        """The earliest deadline of a timer or schedule slot known."""

    def may_be_due(self, now: datetime) -> bool:
        return self._look or (self._next is not None and self._next <= now)

    def look_again(self) -> None:
        self._look = True

    def looked(self, next_deadline: datetime | None) -> None:
        """A look fired what was due; ``next_deadline``: the earliest one left."""
        self._look, self._next = False, next_deadline

    def expect(self, outcomes: Iterable[Outcome]) -> None:
        """Remember the deadlines the checkpoints just written set (timers, event and task
        timeouts), so they are looked for when they come."""
        for outcome in outcomes:
            for command in outcome.commands:
                due = getattr(command, "due_at", None)
                if due is not None and (self._next is None or due < self._next):
                    self._next = due


def fire_due(conn: Connection, now: datetime, definitions: DefinitionCache) -> int:
    """Fire what is due: timers and timeouts (``store.waits.fire_due_waits``), then cron
    slots. Returns how many fired."""
    return fire_due_waits(conn, now) + fire_schedules(conn, now, definitions)


def fire_schedules(conn: Connection, now: datetime, definitions: DefinitionCache) -> int:
    """Start one run per cron slot to fire (``store.schedules.catch_up``: what the trigger's
    ``catchUp`` makes of slots missed while no worker ran); each slot's idempotency key makes a
    second worker's attempt at the same slot a no-op. A paused workflow's slots pass unfired."""
    started = 0
    for row in due_schedules(conn, now):
        if row.paused:
            advance_schedule(conn, row, next_slot(row.cron, row.timezone, now))
            continue
        definition = definitions.definition_in(conn, row.version_id)
        trigger = definition.triggers[row.trigger_index]
        mode, window = "latest", None
        if isinstance(trigger, ScheduleTrigger):
            mode, window = trigger.catch_up, trigger.catch_up_window_ms
        firing = catch_up(
            row.cron,
            row.timezone,
            row.next_fire_at,
            now,
            mode,
            None if window is None else timedelta(milliseconds=window),
        )
        for slot in firing.slots:
            started += _start_slot(conn, row, definition, slot, now)
        advance_schedule(conn, row, firing.next_fire_at)
    return started


def _start_slot(
    conn: Connection, row: Any, definition: Definition, slot: datetime, now: datetime
) -> bool:
    """Start the run of one slot (False: it exists, or the workflow refused its payload)."""
    key, trigger = slot_key(row.trigger_index, slot), f"schedule:{row.cron}"
    new = NewRun(
        tenant_id=row.tenant_id,
        workflow_id=row.workflow_id,
        workflow_key=row.key,
        version_id=row.version_id,
        version_number=row.number,
        definition=definition,
        payload=row.payload or {},
        idempotency_key=key,
        trigger=trigger,
        meta=start_meta(trigger, key),
    )
    try:
        [values] = insert_runs(conn, [new], now)
    except PayloadInvalid as exc:  # its concurrencyKey: the slot is skipped
        log.warning("schedule slot %s of %s started no run: %s", slot, row.key, exc)
        return False
    return values is not None
