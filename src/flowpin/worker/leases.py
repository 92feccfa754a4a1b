"""The worker's transactions on its claims: claim runnable runs (with what it needs to drive
them), renew the leases it holds, give a run back for a while, release them all on a stop.
Each function is one whole write transaction (``worker.loop`` runs it on its database thread,
or inline on SQLite)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flowpin.definitions.models import Definition
from flowpin.observability import metrics
from flowpin.store import claims
from flowpin.worker.claimed import ClaimedRun

if TYPE_CHECKING:
    from flowpin.worker.deps import WorkerDeps


@dataclass(frozen=True, slots=True)
class Claimed:
    """A run just claimed: its row, definition, unread inbox, calls a previous claimant
    started and never finished, and when its lease passes as far as this worker knows."""

    run: ClaimedRun
    definition: Definition
    inbox: list[Any]
    started: list[Any]
    lease_until: datetime


def claim(
    deps: WorkerDeps, owner: str, limit: int, lease_seconds: float, batch: int
) -> list[Claimed]:
    """Claim up to ``min(limit, batch)`` runnable runs for ``owner``."""
    now = deps.clock.now()
    lease_until = now + timedelta(seconds=lease_seconds)
    with deps.db.write() as conn:
        rows = claims.claim_runs(conn, owner, now, lease_seconds, min(limit, batch))
        if not rows:
            return []
        metrics.CLAIM_BATCH.observe(len(rows))
        ids = [row.id for row in rows]
        inbox = claims.inbox_for(conn, ids)
        for rows_of_run in inbox.values():
            metrics.observe_event_resumes(rows_of_run, now)
        started = claims.started_calls_for(conn, ids)
        definitions = {
            version_id: deps.definitions.definition_in(conn, version_id)
            for version_id in {row.version_id for row in rows}
        }
    return [
        Claimed(
            ClaimedRun.from_row(row),
            definitions[row.version_id],
            inbox.get(row.id, []),
            started.get(row.id, []),
            lease_until,
        )
        for row in rows
    ]


def renew(
    deps: WorkerDeps, owner: str, run_ids: list[str], now: datetime, lease_seconds: float
) -> dict[str, int]:
    """Extend ``owner``'s leases on ``run_ids`` from ``now``; the claim count of each run
    renewed (``claims.renew_leases``)."""
    with deps.db.write() as conn:
        return claims.renew_leases(conn, owner, run_ids, now, lease_seconds)


def defer(deps: WorkerDeps, owner: str, run: ClaimedRun, seconds: float) -> None:
    """Give ``run`` back, claimable again after ``seconds``."""
    now = deps.clock.now()
    with deps.db.write() as conn:
        claims.defer(conn, owner, run.id, run.claim_count, now, seconds)


def release_all(deps: WorkerDeps, owner: str) -> None:
    """On a graceful stop: hand every run of ``owner`` back at once."""
    with deps.db.write() as conn:
        claims.release_all(conn, owner, deps.clock.now())
