"""Gauges read from the database when the metrics are scraped, not kept by the hot path:
runs due but not claimed (queue depth), the oldest one's age, and runs held under a lease
that expired (a dead or stalled worker's runs, waiting to be taken over).

Each is one aggregate over the partial index on ``wake_at`` (runs with nothing to do have
``wake_at`` NULL and are not in it), so a scrape stays cheap with millions of parked runs. A run
queued behind another run of its concurrency key is not due: it waits for that run to end (for
days, when a person has to answer), not for a worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from flowpin.store import tables as t
from flowpin.store.claims import ACTIVE, aware, next_of_its_key

if TYPE_CHECKING:
    from flowpin.worker.deps import WorkerDeps


class QueueCollector(Collector):
    """The queue as the database holds it, for one engine's database."""

    def __init__(self, core: WorkerDeps) -> None:
        self.core = core

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.core.clock.now()
        runs = t.runs.c
        due = sa.and_(
            runs.wake_at.is_not(None),
            runs.wake_at <= now,
            runs.status.in_(ACTIVE),
            next_of_its_key(),
        )
        unleased = sa.or_(runs.lease_expires_at.is_(None), runs.lease_expires_at < now)
        with self.core.db.read() as conn:
            depth, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(runs.wake_at)).where(due, unleased)
            ).one()
            expired = conn.execute(
                sa.select(sa.func.count()).where(
                    due, runs.lease_owner.is_not(None), runs.lease_expires_at < now
                )
            ).scalar_one()
        age = 0.0
        if oldest is not None:
            age = max(0.0, (now - aware(oldest)).total_seconds())
        yield GaugeMetricFamily(
            "flowpin_runs_due", "Runs due now that no worker holds (queue depth).", value=depth
        )
        yield GaugeMetricFamily(
            "flowpin_runs_due_oldest_age_seconds",
            "How long the longest-waiting due, unclaimed run has been due (0: none).",
            value=age,
        )
        yield GaugeMetricFamily(
            "flowpin_runs_lease_expired",
            "Runs still held under an expired lease: their worker died or stalled; the next "
            "claim takes them over.",
            value=expired,
        )
