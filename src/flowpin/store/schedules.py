"""Cron schedules: each holds the next slot to fire (``next_fire_at``); firing moves it on, and
only the worker whose update still sees the old slot moves it (a second worker's attempt at the
same slots changes nothing, and the slots' run keys make its runs no-ops).

Slots missed while no worker ran (a deploy, an outage) become what the trigger's ``catchUp``
says (``catch_up``): ``latest`` one run for the most recent of them, ``all`` one run each -
oldest first, at most ``CATCH_UP_BATCH`` per schedule and pass, the rest on the next passes -
and ``none`` no run: only a slot at most ``ON_TIME`` late fires. A slot older than the
trigger's ``catchUpWindowMs`` never fires. Kubernetes' CronJob starts the latest missed slot
(``startingDeadlineSeconds`` its window), Temporal's schedules can backfill all of them
(``catchupWindow``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.waits import iso
from flowpin.store.workflows import next_slot

CATCH_UP_BATCH = 100
"""At most this many missed slots of one schedule start runs in one pass (one transaction):
a schedule asleep for years cannot flood the database at once."""

ON_TIME = timedelta(seconds=60)
"""How late a slot may fire and still count as on time (``catchUp: none``): a busy worker's
pass, or one that learned of a new schedule on its poll, comes this late at most."""

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Firing:
    """What one pass does with a due schedule: start a run for each of ``slots`` (oldest
    first), then move the schedule to ``next_fire_at`` (still due when a batch was cut)."""

    slots: list[datetime]
    next_fire_at: datetime


def due_schedules(conn: Connection, now: datetime) -> list[Any]:
    """Schedules whose slot is due, with their workflow's key and pause flag and their
    version's number."""
    return list(
        conn.execute(
            sa.select(
                t.schedules, t.workflows.c.key, t.workflows.c.paused, t.workflow_versions.c.number
            )
            .join(t.workflows, t.workflows.c.id == t.schedules.c.workflow_id)
            .join(t.workflow_versions, t.workflow_versions.c.id == t.schedules.c.version_id)
            .where(t.schedules.c.next_fire_at <= now)
        ).all()
    )


def catch_up(
    cron: str,
    timezone: str,
    due: datetime,
    now: datetime,
    mode: str = "latest",
    window: timedelta | None = None,
    batch: int = CATCH_UP_BATCH,
) -> Firing:
    """The slots to fire of a schedule whose slot ``due`` (<= ``now``) has come, and where it
    goes next; every slot from ``due`` to ``now`` is one the schedule has not fired yet."""
    earliest = due if window is None else max(due, now - window)
    if mode == "all":
        slot = due if due >= earliest else next_slot(cron, timezone, earliest - _TICK)
        slots: list[datetime] = []
        while slot <= now and len(slots) < batch:
            slots.append(slot)
            slot = next_slot(cron, timezone, slot)
        return Firing(slots, slot)
    if mode == "none":
        earliest = max(earliest, now - ON_TIME)
    latest = max(due, latest_slot(cron, timezone, now))
    return Firing([latest] if latest >= earliest else [], next_slot(cron, timezone, now))


def latest_slot(cron: str, timezone: str, now: datetime) -> datetime:
    """The last cron slot at or before ``now``, in UTC."""
    local = (now + _TICK).astimezone(ZoneInfo(timezone))
    prev: datetime = croniter(cron, local).get_prev(datetime)
    return prev.astimezone(ZoneInfo("UTC"))


def slot_key(trigger_index: int, slot: datetime) -> str:
    """The idempotency key of a slot's run: one run per slot, whoever fires it."""
    return f"schedule:{trigger_index}:{iso(slot)}"


def start_meta(trigger: str | None, idempotency_key: str | None) -> dict[str, Any] | None:
    """The ``meta`` a run starts with: a schedule's run knows its slot (``scheduledFor``, the
    slot's time, not when a worker came to fire it); None for any other run (a key of the same
    shape given to a run started otherwise is the caller's own)."""
    if trigger is None or not trigger.startswith("schedule:"):
        return None
    if idempotency_key is None or not idempotency_key.startswith("schedule:"):
        return None
    return {"scheduledFor": idempotency_key.split(":", 2)[2]}


def advance_schedule(conn: Connection, schedule: Any, next_fire_at: datetime) -> None:
    """Move a due schedule (a row of ``due_schedules``) on to ``next_fire_at``, unless another
    worker moved it first."""
    conn.execute(
        t.schedules.update()
        .where(t.schedules.c.id == schedule.id, t.schedules.c.next_fire_at == schedule.next_fire_at)
        .values(next_fire_at=next_fire_at)
    )
