"""Cron schedules: each holds the next slot to fire (``next_fire_at``); firing a slot moves it
on, and only the worker whose update still sees the old slot moves it (a second worker's
attempt at the same slot changes nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.workflows import next_slot


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


def advance_schedule(conn: Connection, schedule: Any, now: datetime) -> None:
    """Move a due schedule (a row of ``due_schedules``) to its first slot after both its due
    slot and ``now`` (slots missed while nobody ran are skipped)."""
    slot = schedule.next_fire_at
    conn.execute(
        t.schedules.update()
        .where(t.schedules.c.id == schedule.id, t.schedules.c.next_fire_at == slot)
        .values(next_fire_at=next_slot(schedule.cron, schedule.timezone, max(slot, now)))
    )
