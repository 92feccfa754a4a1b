"""The queue as the metrics scrape reads it (``engine.metrics_port``): runs due but not claimed
(queue depth), the oldest one's due time, and runs held under a lease that expired (a dead or
stalled worker's runs, waiting to be taken over).

Each is one aggregate over the partial index on ``wake_at`` (runs with nothing to do have
``wake_at`` NULL and are not in it), so a scrape stays cheap with millions of parked runs. A run
queued behind another run of its concurrency key is not due: it waits for that run to end (for
days, when a person has to answer), not for a worker."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.claims import aware, next_of_its_key
from flowpin.types import ACTIVE_STATUSES


class QueueState(NamedTuple):
    due: int
    """Runs due now that no worker holds."""
    oldest_due_at: datetime | None
    """When the longest-waiting of them became due."""
    lease_expired: int
    """Due runs still held under an expired lease."""


def queue_state(conn: Connection, now: datetime) -> QueueState:
    runs = t.runs.c
    due = sa.and_(
        runs.wake_at.is_not(None),
        runs.wake_at <= now,
        runs.status.in_(ACTIVE_STATUSES),
        next_of_its_key(),
    )
    unleased = sa.or_(runs.lease_expires_at.is_(None), runs.lease_expires_at < now)
    depth, oldest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(runs.wake_at)).where(due, unleased)
    ).one()
    expired = conn.execute(
        sa.select(sa.func.count()).where(
            due, runs.lease_owner.is_not(None), runs.lease_expires_at < now
        )
    ).scalar_one()
    return QueueState(int(depth), None if oldest is None else aware(oldest), int(expired))
