"""The lease protocol: claim, renew, release, reclaim.

A run is *claimable* when ``wake_at <= now`` and it has no live lease (``lease_expires_at`` NULL
or past). Claiming sets ``lease_owner``, ``lease_expires_at = now + lease`` and increments
``claim_count`` in one statement per batch; every later write of the claimant is fenced by
``lease_owner`` and ``claim_count``, so a worker that stalled past its lease (and whose run was
reclaimed by another) writes nothing. A worker that dies simply stops renewing: its runs become
claimable when the lease expires. Parking releases the lease (``lease_owner`` NULL).

On SQLite the claim runs inside ``BEGIN IMMEDIATE`` (one writer at a time), so select-then-update
is atomic. On PostgreSQL the select uses ``FOR UPDATE SKIP LOCKED`` so concurrent claimers take
disjoint batches without waiting on each other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t

ACTIVE = ("PENDING", "RUNNING", "WAITING")


def claimable_condition(now: datetime) -> Any:
    """Due, unleased, active — and not of a paused workflow: pausing holds runs where they
    are (they keep their wake-up and continue on resume); nothing is lost or skipped."""
    paused = sa.select(t.workflows.c.id).where(t.workflows.c.paused.is_(True))
    return sa.and_(
        t.runs.c.wake_at <= now,
        sa.or_(t.runs.c.lease_expires_at.is_(None), t.runs.c.lease_expires_at < now),
        t.runs.c.status.in_(ACTIVE),
        t.runs.c.workflow_id.not_in(paused),
    )


def claim_runs(
    conn: Connection, owner: str, now: datetime, lease_seconds: float, limit: int
) -> list[Any]:
    """Claim up to ``limit`` runnable runs, oldest wake-up first; returns the claimed rows."""
    if limit <= 0:
        return []
    select = (
        sa.select(t.runs.c.id)
        .where(claimable_condition(now))
        .order_by(t.runs.c.wake_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        select = select.with_for_update(skip_locked=True)
    ids = list(conn.execute(select).scalars())
    if not ids:
        return []
    conn.execute(
        t.runs.update()
        .where(t.runs.c.id.in_(ids))
        .values(
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            claim_count=t.runs.c.claim_count + 1,
            status=sa.case((t.runs.c.status == "PENDING", "RUNNING"), else_=t.runs.c.status),
        )
    )
    return list(conn.execute(sa.select(t.runs).where(t.runs.c.id.in_(ids))).all())


def inbox_for(conn: Connection, run_ids: list[str]) -> dict[str, list[Any]]:
    rows = conn.execute(
        sa.select(t.run_inbox).where(t.run_inbox.c.run_id.in_(run_ids)).order_by(t.run_inbox.c.id)
    ).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.run_id, []).append(row)
    return grouped


def started_calls_for(conn: Connection, run_ids: list[str]) -> dict[str, list[Any]]:
    """Ledger entries a previous claimant started and never finished (it died mid-call)."""
    rows = conn.execute(
        sa.select(t.action_ledger).where(
            t.action_ledger.c.run_id.in_(run_ids), t.action_ledger.c.status == "started"
        )
    ).all()
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.run_id, []).append(row)
    return grouped


def renew_leases(
    conn: Connection, owner: str, run_ids: list[str], now: datetime, lease_seconds: float
) -> None:
    if not run_ids:
        return
    conn.execute(
        t.runs.update()
        .where(t.runs.c.id.in_(run_ids), t.runs.c.lease_owner == owner)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )


def defer(
    conn: Connection, owner: str, run_id: str, claim_count: int, now: datetime, seconds: float
) -> None:
    """Give a claimed run back, claimable again after ``seconds``."""
    conn.execute(
        t.runs.update()
        .where(
            t.runs.c.id == run_id,
            t.runs.c.lease_owner == owner,
            t.runs.c.claim_count == claim_count,
            t.runs.c.status.in_(ACTIVE),
        )
        .values(lease_owner=None, lease_expires_at=None, wake_at=now + timedelta(seconds=seconds))
    )


def release_all(conn: Connection, owner: str, now: datetime) -> None:
    """On a graceful stop: hand every run back at once instead of waiting for lease expiry."""
    conn.execute(
        t.runs.update()
        .where(t.runs.c.lease_owner == owner, t.runs.c.status.in_(ACTIVE))
        .values(lease_owner=None, lease_expires_at=None, wake_at=now)
    )


def fire_due_waits(conn: Connection, now: datetime, limit: int = 1000) -> list[Any]:
    """Resolve open waits whose deadline passed (timers, event/task timeouts); returns them.
    Each is resolved by ``UPDATE … WHERE status='open'`` so it competes fairly with events."""
    select = (
        sa.select(t.waits.c.id)
        .where(t.waits.c.status == "open", t.waits.c.due_at <= now)
        .order_by(t.waits.c.due_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        select = select.with_for_update(skip_locked=True)
    ids = list(conn.execute(select).scalars())
    if not ids:
        return []
    return list(
        conn.execute(
            t.waits.update()
            .where(t.waits.c.id.in_(ids), t.waits.c.status == "open")
            .values(status="resolved", resolved_at=now)
            .returning(
                t.waits.c.id,
                t.waits.c.run_id,
                t.waits.c.token,
                t.waits.c.kind,
                t.waits.c.ref_id,
            )
        ).all()
    )


def next_wakeup(conn: Connection, now: datetime) -> datetime | None:
    """The earliest moment something becomes due: a run's wake-up or lease expiry, a wait's
    deadline, or a schedule slot."""
    candidates = [
        conn.execute(
            sa.select(sa.func.min(t.waits.c.due_at)).where(t.waits.c.status == "open")
        ).scalar(),
        conn.execute(sa.select(sa.func.min(t.schedules.c.next_fire_at))).scalar(),
        conn.execute(
            sa.select(
                sa.func.min(sa.func.coalesce(t.runs.c.lease_expires_at, t.runs.c.wake_at))
            ).where(
                t.runs.c.wake_at.is_not(None),
                t.runs.c.status.in_(ACTIVE),
                t.runs.c.workflow_id.not_in(
                    sa.select(t.workflows.c.id).where(t.workflows.c.paused.is_(True))
                ),
            )
        ).scalar(),
    ]
    found = [_aware(c) for c in candidates if c is not None]
    return min(found) if found else None


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value
