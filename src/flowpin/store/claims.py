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

A workflow with a ``concurrency_limit`` has at most that many runs *executing* (holding a live
lease) at once; parked runs do not count. Its runs are claimed apart from the others: the
claimer locks the workflow's row (PostgreSQL ``FOR NO KEY UPDATE``; SQLite is serialized),
counts its live leases and takes at most the free slots, oldest wake-up first. Claimers of the
same limited workflow therefore queue on that row; unlimited workflows never touch it.

A run with a *concurrency key* (``settings.concurrencyKey``, stored on the run at start with its
place in the key's queue, ``concurrency_seq``) is claimed the same way, under its workflow's row
lock, and only when it is *next of its key* (``next_of_its_key``): a PENDING run when no other
active run of the key has begun or is ahead of it in the queue; a run that has begun when no run
of the key that has begun is ahead of it (a retried run). A run holds its key from its first
claim until it ends - through waits, timers and human tasks - so the runs of one key run one at
a time, in start order, like a FIFO group. The lock makes "no other has begun" true across
claimers on PostgreSQL; a run whose start commits late (its number lower than a run already
begun) waits for that run rather than overtaking it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.dialects import dialect_of
from flowpin.store.statements import (
    DriverRead,
    DriverStatement,
    among,
    built_once,
    list_param,
    listed,
)
from flowpin.types import ACTIVE_STATUSES


def claimable_condition(now: datetime, *, guarded: bool = False) -> Any:
    """Due, unleased, active — and not of a paused workflow: pausing holds runs where they
    are (they keep their wake-up and continue on resume); nothing is lost or skipped.

    Runs of workflows with a concurrency limit, and runs with a concurrency key, are left out
    (``_claim_guarded`` claims them per workflow); ``guarded``: only the due-unleased-active
    part, for that caller."""
    due = sa.and_(
        t.runs.c.wake_at <= now,
        sa.or_(t.runs.c.lease_expires_at.is_(None), t.runs.c.lease_expires_at < now),
        t.runs.c.status.in_(ACTIVE_STATUSES),
    )
    if guarded:
        return due
    held = sa.select(t.workflows.c.id).where(
        sa.or_(t.workflows.c.paused.is_(True), t.workflows.c.concurrency_limit.is_not(None))
    )
    return sa.and_(due, t.runs.c.concurrency_key.is_(None), t.runs.c.workflow_id.not_in(held))


def next_of_its_key() -> Any:
    """A run its concurrency key lets execute: it has none; or no other active run of the
    key is ahead of it. Ahead of a PENDING run: any run of the key that has begun (it holds
    the key until it ends), and any PENDING one that started before it. Ahead of a run that
    has begun: only a run that has begun and started before it - a failed run retried while a
    later one holds the key, which then pauses at its next claim until the retried one ends,
    so two runs of a key never execute at once. The earliest run that has begun (or, when
    none has, the earliest PENDING one) is never held back. Answered from
    ``ix_runs_concurrency`` alone."""
    me = t.runs.c
    other = t.runs.alias("same_key")
    begun = other.c.status != "PENDING"
    ahead = sa.exists().where(
        other.c.workflow_id == me.workflow_id,
        other.c.concurrency_key == me.concurrency_key,
        other.c.concurrency_key.is_not(None),
        other.c.status.in_(ACTIVE_STATUSES),
        sa.or_(
            sa.and_(
                other.c.concurrency_seq < me.concurrency_seq,
                sa.or_(begun, me.status == "PENDING"),
            ),
            sa.and_(other.c.concurrency_seq > me.concurrency_seq, begun, me.status == "PENDING"),
        ),
    )
    return sa.or_(me.concurrency_key.is_(None), ~ahead)


def _executing(now: datetime) -> Any:
    """A run a worker is executing right now: it holds a live lease."""
    return sa.and_(
        t.runs.c.lease_owner.is_not(None),
        t.runs.c.lease_expires_at >= now,
        t.runs.c.status.in_(ACTIVE_STATUSES),
    )


CLAIMED = (
    t.runs.c.id,
    t.runs.c.tenant_id,
    t.runs.c.workflow_id,
    t.runs.c.workflow_key,
    t.runs.c.version_id,
    t.runs.c.version_number,
    t.runs.c.subject,
    t.runs.c.status,
    t.runs.c.created_at,
    t.runs.c.parent_run_id,
    t.runs.c.parent_token,
    t.runs.c.claim_count,
    t.runs.c.state,
)
"""The columns a claim returns: what a worker drives the run with. Not the payload, output,
error or the other times: decoding them (JSON, and SQLite's times from text) was half of a
claim's cost (measured: 8 ms for 200 runs)."""


def claim_runs(
    conn: Connection, owner: str, now: datetime, lease_seconds: float, limit: int
) -> list[Any]:
    """Claim up to ``limit`` runnable runs, oldest wake-up first; returns the claimed rows.
    On PostgreSQL the pick (``FOR UPDATE SKIP LOCKED``), the lease and the read of the rows are
    one ``UPDATE … RETURNING`` (one round trip instead of three)."""
    if limit <= 0:
        return []
    if dialect_of(conn).concurrent_writers:
        expires = now + timedelta(seconds=lease_seconds)
        params = {"now": now, "claim_limit": limit, "claim_owner": owner, "claim_expires": expires}
        rows = list(conn.execute(_PG_CLAIM, params).all())
        if len(rows) < limit:
            guarded = _claim_guarded(conn, now, limit - len(rows))
            if guarded:
                rows += _lease(conn, among(conn, t.runs.c.id, guarded), owner, now, lease_seconds)
        return rows
    ids = _SQLITE_PICK.scalars(conn, {"now": now, "claim_limit": limit})
    if len(ids) < limit:
        ids += _claim_guarded(conn, now, limit - len(ids))
    if not ids:
        return []
    listed_ids = list_param(conn, ids)
    _SQLITE_LEASE.rowcount(
        conn,
        {
            "ids": listed_ids,
            "claim_owner": owner,
            "claim_expires": now + timedelta(seconds=lease_seconds),
        },
    )
    return _CLAIMED_ROWS.all(conn, {"ids": listed_ids})


_SQLITE_LEASE = DriverStatement(
    lambda dialect: (
        t.runs.update()
        .where(listed(dialect, t.runs.c.id, "ids"))
        .values(
            lease_owner=sa.bindparam("claim_owner", type_=t.runs.c.lease_owner.type),
            lease_expires_at=sa.bindparam("claim_expires", type_=t.runs.c.lease_expires_at.type),
            claim_count=t.runs.c.claim_count + 1,
            status=sa.case((t.runs.c.status == "PENDING", "RUNNING"), else_=t.runs.c.status),
        )
    )
)
"""``_lease_values`` for a list of ids, built once (like ``_PG_CLAIM``): a worker claims after
every wake-up."""
_CLAIMED_ROWS = DriverStatement(
    lambda dialect: sa.select(*CLAIMED).where(listed(dialect, t.runs.c.id, "ids"))
)


def _pg_claim() -> Any:
    """The PostgreSQL claim, built once with parameters (``now``, ``claim_limit``,
    ``claim_owner``, ``claim_expires``): an idle worker claims after every wake-up, and building
    and cache-keying the expression each time cost more CPU than the statement itself."""
    now = sa.bindparam("now", type_=t.runs.c.wake_at.type)
    picked = (
        sa.select(t.runs.c.id)
        .where(claimable_condition(now))
        .order_by(t.runs.c.wake_at)
        .limit(sa.bindparam("claim_limit", type_=sa.Integer))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return (
        t.runs.update()
        .where(t.runs.c.id == sa.any_(sa.func.array(picked)))
        .values(
            lease_owner=sa.bindparam("claim_owner", type_=t.runs.c.lease_owner.type),
            lease_expires_at=sa.bindparam("claim_expires", type_=t.runs.c.lease_expires_at.type),
            claim_count=t.runs.c.claim_count + 1,
            status=sa.case((t.runs.c.status == "PENDING", "RUNNING"), else_=t.runs.c.status),
        )
        .returning(*CLAIMED)
    )


def _lease_values(owner: str, now: datetime, lease_seconds: float) -> dict[str, Any]:
    return {
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "claim_count": t.runs.c.claim_count + 1,
        "status": sa.case((t.runs.c.status == "PENDING", "RUNNING"), else_=t.runs.c.status),
    }


def _lease(
    conn: Connection, which: Any, owner: str, now: datetime, lease_seconds: float
) -> list[Any]:
    return list(
        conn.execute(
            t.runs.update()
            .where(which)
            .values(**_lease_values(owner, now, lease_seconds))
            .returning(*CLAIMED)
        ).all()
    )


def _guarded_workflows() -> Any:
    """The unpaused workflows whose runs ``_claim_guarded`` claims: those with a concurrency
    limit, and those with a due keyed run. Built once (parameter ``now``): every claim that
    finds fewer runs than it could take asks it."""
    now = sa.bindparam("now", type_=t.runs.c.wake_at.type)
    keyed = sa.select(t.runs.c.workflow_id).where(
        claimable_condition(now, guarded=True), t.runs.c.concurrency_key.is_not(None)
    )
    return (
        sa.select(t.workflows.c.id, t.workflows.c.concurrency_limit)
        .where(
            t.workflows.c.paused.is_(False),
            sa.or_(t.workflows.c.concurrency_limit.is_not(None), t.workflows.c.id.in_(keyed)),
        )
        .order_by(t.workflows.c.id)
    )


_GUARDED_WORKFLOWS = DriverRead(_guarded_workflows())


def _claim_guarded(conn: Connection, now: datetime, limit: int) -> list[str]:
    """Ids of runnable runs of concurrency-limited workflows, within each one's free slots,
    and of runs that are next of their concurrency key."""
    workflows = _GUARDED_WORKFLOWS.all(conn, {"now": now})
    if not workflows:  # the common case: nothing below to build (``+ 0`` alone cost ~50 µs)
        return []
    # SQLite would pick the (workflow_id, idempotency_key) index for ``workflow_id = ?`` and
    # visit every run the workflow ever had; ``+ 0`` leaves it the due runs' index.
    dialect = dialect_of(conn)
    workflow_id = dialect.unindexed(t.runs.c.workflow_id)
    ids: list[str] = []
    for workflow in workflows:
        if len(ids) >= limit:
            break
        runnable = sa.and_(
            workflow_id == workflow.id,
            claimable_condition(now, guarded=True),
            next_of_its_key(),
        )
        if not conn.execute(sa.select(t.runs.c.id).where(runnable).limit(1)).first():
            continue  # nothing runnable: do not queue on the workflow's row
        limit_now = workflow.concurrency_limit
        if dialect.concurrent_writers:
            # Claimers of this workflow serialize here, so each sees the others' committed
            # leases and begun runs (READ COMMITTED: the statements below run after the lock
            # is granted). FOR NO KEY UPDATE: inserting a run of the workflow (its foreign
            # key takes KEY SHARE on this row) does not wait for a claim.
            locked = conn.execute(
                dialect.locked(
                    sa.select(t.workflows.c.concurrency_limit, t.workflows.c.paused).where(
                        t.workflows.c.id == workflow.id
                    ),
                    key_share=True,
                )
            ).first()
            if locked is None or locked.paused:
                continue
            limit_now = locked.concurrency_limit
        free = limit - len(ids)
        if limit_now is not None:
            executing = conn.execute(
                sa.select(sa.func.count())
                .select_from(t.runs)
                .where(t.runs.c.workflow_id == workflow.id, _executing(now))
            ).scalar_one()
            free = min(limit_now - executing, free)
        if free <= 0:
            continue
        select = (
            sa.select(t.runs.c.id)
            .where(runnable)
            .order_by(t.runs.c.wake_at, t.runs.c.created_at)
            .limit(free)
        )
        ids += conn.execute(dialect.locked(select, skip_locked=True)).scalars()
    return ids


def saturated_workflows(now: datetime) -> Any:
    """Ids of the workflows whose concurrency limit is reached (their queued runs are not due
    until a slot frees)."""
    executing = (
        sa.select(sa.func.count())
        .select_from(t.runs)
        .where(
            t.runs.c.tenant_id == t.workflows.c.tenant_id,
            t.runs.c.workflow_id == t.workflows.c.id,
            _executing(now),
        )
        .scalar_subquery()
    )
    return sa.select(t.workflows.c.id).where(
        t.workflows.c.concurrency_limit.is_not(None), executing >= t.workflows.c.concurrency_limit
    )


# The statements of a claim and of every checkpoint, built once per dialect (``built_once``):
# building and cache-keying them per call cost more CPU than running them (measured).
_INBOX_FOR = DriverStatement(
    lambda dialect: (
        sa.select(t.run_inbox)
        .where(listed(dialect, t.run_inbox.c.run_id, "ids"))
        .order_by(t.run_inbox.c.id)
    )
)
_STARTED_CALLS_FOR = DriverStatement(
    lambda dialect: sa.select(t.action_ledger).where(
        listed(dialect, t.action_ledger.c.run_id, "ids"), t.action_ledger.c.status == "started"
    )
)
_RENEW_LEASES = built_once(
    lambda dialect: (
        t.runs.update()
        .where(
            listed(dialect, t.runs.c.id, "ids"),
            t.runs.c.lease_owner == sa.bindparam("owner", type_=t.runs.c.lease_owner.type),
        )
        .values(lease_expires_at=sa.bindparam("expires", type_=t.runs.c.lease_expires_at.type))
        .returning(t.runs.c.id, t.runs.c.claim_count)
    )
)
# Every checkpoint reads it (on SQLite through the driver's cursor: ``DriverRead``).
_CLAIM_HOLDERS = built_once(
    lambda dialect: DriverRead(
        dialect.locked(
            sa.select(
                t.runs.c.id, t.runs.c.lease_owner, t.runs.c.claim_count, t.runs.c.status
            ).where(listed(dialect, t.runs.c.id, "ids"))
        )
    )
)
_REMOVE_INBOX = DriverStatement(
    lambda dialect: t.run_inbox.delete().where(listed(dialect, t.run_inbox.c.id, "ids"))
)


def inbox_for(conn: Connection, run_ids: list[str]) -> dict[str, list[Any]]:
    rows = _INBOX_FOR.all(conn, {"ids": list_param(conn, run_ids)})
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.run_id, []).append(row)
    return grouped


def started_calls_for(conn: Connection, run_ids: list[str]) -> dict[str, list[Any]]:
    """Ledger entries a previous claimant started and never finished (it died mid-call)."""
    rows = _STARTED_CALLS_FOR.all(conn, {"ids": list_param(conn, run_ids)})
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.run_id, []).append(row)
    return grouped


def renew_leases(
    conn: Connection, owner: str, run_ids: list[str], now: datetime, lease_seconds: float
) -> dict[str, int]:
    """Extend ``owner``'s leases on ``run_ids`` to ``now + lease_seconds``; returns the claim
    count of each run renewed. A run missing from the answer is no longer ``owner``'s (it was
    released, or its lease lapsed and another worker claimed it): the worker must not count on
    the renewal for it."""
    if not run_ids:
        return {}
    rows = conn.execute(
        _RENEW_LEASES(conn),
        {
            "ids": list_param(conn, run_ids),
            "owner": owner,
            "expires": now + timedelta(seconds=lease_seconds),
        },
    ).all()
    return {row.id: row.claim_count for row in rows}


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
            t.runs.c.status.in_(ACTIVE_STATUSES),
        )
        .values(lease_owner=None, lease_expires_at=None, wake_at=now + timedelta(seconds=seconds))
    )


def release_all(conn: Connection, owner: str, now: datetime) -> None:
    """On a graceful stop: hand every run back at once instead of waiting for lease expiry."""
    conn.execute(
        t.runs.update()
        .where(t.runs.c.lease_owner == owner, t.runs.c.status.in_(ACTIVE_STATUSES))
        .values(lease_owner=None, lease_expires_at=None, wake_at=now)
    )


FIRE_BATCH = 5000
"""Due waits resolved per transaction: large, set-based batches (a wave of timers is a few
statements per batch, not a few per timer); concurrent workers take disjoint batches."""


def due_waits(conn: Connection, now: datetime, limit: int = FIRE_BATCH) -> list[Any]:
    """Open waits whose deadline passed (timers, event/task timeouts), earliest first; the
    caller ends them with ``waits.resolve_waits``, so they compete fairly with events. (On
    PostgreSQL ``resolve_due_waits_pg`` does both in one statement.)"""
    return list(
        conn.execute(
            sa.select(
                t.waits.c.id,
                t.waits.c.run_id,
                t.waits.c.token,
                t.waits.c.kind,
                t.waits.c.ref_id,
                t.waits.c.due_at,
            )
            .where(t.waits.c.status == "open", t.waits.c.due_at <= now)
            .order_by(t.waits.c.due_at)
            .limit(limit)
        ).all()
    )


_ACTIVE_SQL = ", ".join(f"'{status.value}'" for status in ACTIVE_STATUSES)
"""``ACTIVE_STATUSES`` as the literal list of an SQL ``IN``."""

# ``= ANY(ARRAY(SELECT …))`` rather than ``IN (SELECT …)`` or a join on the CTE: the array is
# computed once and probed through the primary key whatever the planner believes about the
# tables' sizes. With statistics from when the tables were small (a wave of timers after a
# quiet spell, before autovacuum analyzes), the join form was planned as a nested loop over the
# CTE: 5,000 timers took 4 s instead of 0.2 s (measured).
_RESOLVE_DUE_PG = sa.text(
    f"""
    WITH due AS (
        SELECT id FROM waits WHERE status = 'open' AND due_at <= :now
        ORDER BY due_at LIMIT :limit FOR UPDATE SKIP LOCKED
    ), fired AS (
        UPDATE waits SET status = 'resolved', resolved_at = :now
        WHERE waits.id = ANY(ARRAY(SELECT id FROM due)) AND waits.status = 'open'
        RETURNING waits.run_id, waits.token, waits.kind, waits.ref_id, waits.due_at
    ), inbox AS (
        INSERT INTO run_inbox (run_id, token, kind, body, at)
        SELECT run_id, token, CASE WHEN kind = 'timer' THEN 'timer' ELSE 'timeout' END,
               '{{}}'::jsonb, :now
        FROM fired
    ), tasks AS (
        UPDATE human_tasks SET status = 'timed_out', completed_at = :now
        WHERE id = ANY(ARRAY(SELECT ref_id FROM fired WHERE kind = 'task'))
          AND status = 'open'
    ), woken AS (
        UPDATE runs SET wake_at = :now
        WHERE id = ANY(ARRAY(SELECT run_id FROM fired))
          AND status IN ({_ACTIVE_SQL}) AND wake_at IS NULL
    )
    SELECT EXTRACT(EPOCH FROM (CAST(:now AS timestamptz) - due_at)) FROM fired
    """
)


def resolve_due_waits_pg(conn: Connection, now: datetime, limit: int = FIRE_BATCH) -> list[float]:
    """PostgreSQL: the whole of firing a batch of due waits in ONE statement (one round trip):
    resolve them (``FOR UPDATE SKIP LOCKED``, ``WHERE status = 'open'`` as every resolver), add
    each one's inbox row (``timer``, or ``timeout`` for an event/task deadline), time out the
    tasks behind task waits, and wake the runs. Same effects as ``due_waits`` followed by
    ``waits.resolve_waits``; returns how late each fired wait was (seconds)."""
    return [
        float(late)
        for late in conn.execute(_RESOLVE_DUE_PG, {"now": now, "limit": limit}).scalars()
    ]


def next_wakeup(conn: Connection, now: datetime) -> datetime | None:
    """The earliest moment something becomes due: a run's wake-up or lease expiry, a wait's
    deadline, or a schedule slot. (An idle worker asks after every wake-up: on PostgreSQL the
    three minima are one statement built once, ``LEAST`` ignoring the empty ones.)"""
    if dialect_of(conn).concurrent_writers:
        earliest = conn.execute(_PG_NEXT_WAKEUP, {"now": now}).scalar()
        return None if earliest is None else aware(earliest)
    # The two minima without ``now`` run without it: Core compiles a statement once per set of
    # parameter names, and ``next_timer`` runs them so (two compiles fewer per process).
    wait, slot, runs = _SQLITE_NEXT_WAKEUP
    candidates = [
        conn.execute(wait).scalar(),
        conn.execute(slot).scalar(),
        conn.execute(runs, {"now": now}).scalar(),
    ]
    found = [aware(c) for c in candidates if c is not None]
    return min(found) if found else None


_EARLIEST_WAIT = sa.select(sa.func.min(t.waits.c.due_at)).where(t.waits.c.status == "open")
"""The earliest deadline of an open wait: a timer, an event or task timeout."""
_EARLIEST_SLOT = sa.select(sa.func.min(t.schedules.c.next_fire_at))
"""The earliest schedule slot."""


def _wakeup_queries(now: Any) -> tuple[Any, Any, Any]:
    runs = sa.select(
        sa.func.min(sa.func.coalesce(t.runs.c.lease_expires_at, t.runs.c.wake_at))
    ).where(
        t.runs.c.wake_at.is_not(None),
        t.runs.c.status.in_(ACTIVE_STATUSES),
        t.runs.c.workflow_id.not_in(
            sa.select(t.workflows.c.id).where(t.workflows.c.paused.is_(True))
        ),
        # A queued run of a workflow at its limit is due when a slot frees: when an executing
        # run's lease expires (counted here), or when it finishes or parks (the worker that
        # held it looks again). A run queued behind another of its concurrency key is due
        # when that one ends (the worker that ends it looks again).
        sa.or_(
            t.runs.c.lease_owner.is_not(None),
            sa.and_(
                t.runs.c.workflow_id.not_in(saturated_workflows(now)),
                next_of_its_key(),
            ),
        ),
    )
    return _EARLIEST_WAIT, _EARLIEST_SLOT, runs


def next_timer(conn: Connection) -> datetime | None:
    """The earliest deadline of an open wait (timer, event or task timeout) or schedule slot:
    until then a worker need not look for due timers (``worker.loop`` remembers it)."""
    found = [conn.execute(query).scalar() for query in _NEXT_TIMER]
    moments = [aware(value) for value in found if value is not None]
    return min(moments) if moments else None


_NEXT_TIMER = (_EARLIEST_WAIT, _EARLIEST_SLOT)


def aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value


_PG_CLAIM = _pg_claim()
_SQLITE_PICK = DriverRead(
    sa.select(t.runs.c.id)
    .where(claimable_condition(sa.bindparam("now", type_=t.runs.c.wake_at.type)))
    .order_by(t.runs.c.wake_at)
    .limit(sa.bindparam("claim_limit", type_=sa.Integer))
)
_SQLITE_NEXT_WAKEUP = _wakeup_queries(sa.bindparam("now", type_=t.runs.c.wake_at.type))
"""Built once, like the PostgreSQL statement: generating the cache key of these queries
(correlated subqueries included) each time cost more than running them on an idle database."""
_PG_NEXT_WAKEUP = sa.select(
    sa.func.least(
        *(
            query.scalar_subquery()
            for query in _wakeup_queries(sa.bindparam("now", type_=t.runs.c.wake_at.type))
        )
    )
)


def claim_holders(conn: Connection, run_ids: list[str]) -> dict[str, Any]:
    """Who holds each run's claim (``lease_owner``, ``claim_count``) and its status, read for
    the fence of a checkpoint: row-locked on PostgreSQL until the transaction ends (SQLite's
    writer lock does the same), so nobody takes a claim between this read and the writes that
    follow."""
    rows = _CLAIM_HOLDERS(conn).all(conn, {"ids": list_param(conn, run_ids)})
    return {row.id: row for row in rows}


def remove_inbox(conn: Connection, row_ids: list[int]) -> None:
    """Inbox rows a checkpoint consumed."""
    _REMOVE_INBOX.rowcount(conn, {"ids": list_param(conn, row_ids)})
