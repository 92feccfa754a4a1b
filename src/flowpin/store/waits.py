"""Resolving waits: events, timeouts, timers, task completions, finished children, cancellation.

One rule (SPEC §4.4), written once, in ``resolve_waits``: a wait ends by ``UPDATE waits SET
status=… WHERE id IN (…) AND status='open' RETURNING id``. Whoever changes the row wins; the
loser sees it missing from RETURNING and does nothing, so an event and a timeout racing for one
wait resolve it exactly once. The winner records the input in the run's inbox and wakes the run,
in the same transaction. ``end_waits`` is the first half alone (a canceled wait leaves no input).
On PostgreSQL, due timers take the same three steps as one statement (``claims._RESOLVE_DUE_PG``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.errors import ExpressionError
from flowpin.expressions.rules import RuleError
from flowpin.expressions.wait_filters import accepts
from flowpin.observability import metrics
from flowpin.store import claims
from flowpin.store import tables as t
from flowpin.store.dialects import dialect_of
from flowpin.store.notify import signal_work
from flowpin.store.statements import DriverStatement, list_param, listed
from flowpin.store.tasks import end_open_tasks
from flowpin.types import ACTIVE_STATUSES

log = logging.getLogger("flowpin.events")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


_WAKE_RUNS = DriverStatement(
    lambda dialect: (
        t.runs.update()
        .where(
            listed(dialect, t.runs.c.id, "ids"),
            t.runs.c.status.in_(ACTIVE_STATUSES),
            t.runs.c.wake_at.is_(None),
        )
        .values(wake_at=sa.bindparam("now", type_=t.runs.c.wake_at.type))
    )
)


def wake_runs(conn: Connection, run_ids: list[str], now: datetime) -> None:
    if not run_ids:
        return
    _WAKE_RUNS.rowcount(conn, {"ids": list_param(conn, run_ids), "now": now})
    signal_work(conn)


@dataclass(frozen=True, slots=True)
class EndedWait:
    """A wait that ends, and the input its run's inbox receives for it."""

    wait_id: int
    run_id: str
    token: str
    kind: str
    """The inbox row's kind: ``event``, ``timer``, ``timeout``, ``task`` or ``child``."""
    body: Any


_END_WAITS = DriverStatement(
    lambda dialect: (
        t.waits.update()
        .where(listed(dialect, t.waits.c.id, "ids"), dialect.unindexed(t.waits.c.status) == "open")
        .values(
            status=sa.bindparam("ending", type_=t.waits.c.status.type),
            resolved_at=sa.bindparam("now", type_=t.waits.c.resolved_at.type),
        )
        .returning(t.waits.c.id)
    )
)


def end_waits(
    conn: Connection, wait_ids: Iterable[int], now: datetime, status: str = "resolved"
) -> set[int]:
    """End the open waits among ``wait_ids``; returns those this transaction ended."""
    ids = sorted(set(wait_ids))
    if not ids:
        return set()
    params = {"ids": list_param(conn, ids), "now": now, "ending": status}
    return set(_END_WAITS.scalars(conn, params))


_INSERT_INBOX = DriverStatement(lambda _dialect: t.run_inbox.insert())


def resolve_waits(
    conn: Connection, ended: Sequence[EndedWait], now: datetime, *, wake: bool = True
) -> list[EndedWait]:
    """A wait ends → an inbox row → the run wakes: for each of ``ended`` whose wait was still
    open. Returns those (in the given order); ``wake=False`` when the run is being written by
    its own checkpoint anyway."""
    won_ids = end_waits(conn, [e.wait_id for e in ended], now)
    won = [e for e in ended if e.wait_id in won_ids]
    if not won:
        return won
    _INSERT_INBOX.many(
        conn,
        [
            {"run_id": e.run_id, "token": e.token, "kind": e.kind, "body": e.body, "at": now}
            for e in won
        ],
    )
    if wake:
        wake_runs(conn, list(dict.fromkeys(e.run_id for e in won)), now)
    return won


def insert_wait(
    conn: Connection,
    tenant_id: str,
    run_id: str,
    token: str,
    step_id: str,
    kind: str,
    now: datetime,
    **values: Any,
) -> int:
    """Open a wait of the run's step (``values``: the kind's columns); returns its id. A wait
    with a deadline tells listening workers to wake then."""
    if values.get("due_at") is not None:
        signal_work(conn, values["due_at"])
    return int(
        conn.execute(
            t.waits.insert()
            .values(
                tenant_id=tenant_id,
                run_id=run_id,
                token=token,
                step_id=step_id,
                kind=kind,
                status="open",
                created_at=now,
                **values,
            )
            .returning(t.waits.c.id)
        ).scalar_one()
    )


def cancel_token_waits(conn: Connection, run_id: str, token: str, now: datetime) -> None:
    """The step at ``token`` stopped waiting (a race or a timeout ended it): its open waits are
    canceled, and the tasks behind those that were task waits."""
    rows = conn.execute(
        sa.select(t.waits.c.id, t.waits.c.kind, t.waits.c.ref_id).where(
            t.waits.c.run_id == run_id, t.waits.c.token == token, t.waits.c.status == "open"
        )
    ).all()
    canceled = end_waits(conn, [row.id for row in rows], now, status="canceled")
    tasks = [row.ref_id for row in rows if row.id in canceled and row.kind == "task"]
    end_open_tasks(conn, tasks, "canceled", now)


def fire_due_waits(conn: Connection, now: datetime) -> int:
    """Resolve due waits (timers, event and task deadlines) in set-based batches: one inbox
    insert, one task update and one wake-up for the whole batch (on PostgreSQL: one statement
    for all of it). Returns how many fired."""
    if dialect_of(conn).concurrent_writers:
        lateness = claims.resolve_due_waits_pg(conn, now)
        if lateness:
            signal_work(conn)
            metrics.observe_lateness(lateness)
        return len(lateness)
    due = {wait.id: wait for wait in claims.due_waits(conn, now)}
    fired = resolve_waits(
        conn,
        [
            EndedWait(wait.id, wait.run_id, wait.token, _due_input(wait.kind), {})
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
    end_open_tasks(conn, tasks, "timed_out", now)
    return len(fired)


def _due_input(wait_kind: str) -> str:
    """A timer's wait delivers ``timer``; an event's or a task's deadline ``timeout``."""
    return "timer" if wait_kind == "timer" else "timeout"


def resolved_event_waits(
    conn: Connection, run_id: str, step_ids: Sequence[str], since: datetime | None, limit: int
) -> list[Any]:
    """The run's latest ``limit`` event waits of ``step_ids`` that an event resolved
    (``since``: resolved from then on), newest first."""
    query = (
        sa.select(t.waits)
        .where(
            t.waits.c.run_id == run_id,
            t.waits.c.status == "resolved",
            t.waits.c.kind == "event",
            t.waits.c.step_id.in_(sorted(step_ids)),
        )
        .order_by(t.waits.c.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(t.waits.c.resolved_at >= since)
    return list(conn.execute(query).all())


def notify_parent(
    conn: Connection,
    child_run_id: str,
    status: str,
    output: Any,
    error: Any,
    now: datetime,
) -> None:
    """A child run ended: the wait of a parent that waits for it receives how."""
    wait = conn.execute(
        sa.select(t.waits.c.id, t.waits.c.run_id, t.waits.c.token).where(
            t.waits.c.kind == "child",
            t.waits.c.ref_id == child_run_id,
            t.waits.c.status == "open",
        )
    ).first()
    if wait is None:
        return
    body = {"status": status, "output": output, "error": error}
    resolve_waits(conn, [EndedWait(wait.id, wait.run_id, wait.token, "child", body)], now)


def event_accepted(filter_source: str | None, envelope: Any, event: dict[str, Any]) -> bool:
    """A wait's filter decides; a filter that fails to evaluate rejects the event (and is
    logged), it never breaks the submission for the other waits."""
    if not filter_source:
        return True
    data = dict(envelope or {})
    data["event"] = event
    try:
        return accepts(filter_source, data, event.get("receivedAt"))
    except (ExpressionError, RuleError) as exc:
        log.warning("wait filter failed, event rejected: %s", exc)
        return False


@dataclass(slots=True)
class EventOutcome:
    event_id: str
    resumed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "resumed": self.resumed,
            "started": self.started,
            "duplicate": self.duplicate,
        }


def match_buffered_event(
    conn: Connection,
    tenant_id: str,
    run_id: str,
    wait_id: int,
    token: str,
    name: str,
    key: str | None,
    filter_source: str | None,
    envelope: Any,
    now: datetime,
) -> bool:
    """When a wait registers, an event buffered with ``ttlMs`` and not yet consumed by this run
    resolves it at once (the start-then-immediately-signal race)."""
    key_condition = t.events.c.key.is_(None) if key is None else t.events.c.key == key
    consumed = sa.exists().where(  # by the consumption's primary key, not a walk over all
        t.event_consumptions.c.event_row_id == t.events.c.id,
        t.event_consumptions.c.run_id == run_id,
    )
    rows = conn.execute(
        sa.select(t.events)
        .where(
            t.events.c.tenant_id == tenant_id,
            t.events.c.name == name,
            key_condition,
            t.events.c.expires_at > now,
            ~consumed,
        )
        .order_by(t.events.c.received_at)
    ).all()
    for row in rows:
        event = event_shape(row)
        if not event_accepted(filter_source, envelope, event):
            continue
        if not resolve_waits(
            conn, [EndedWait(wait_id, run_id, token, "event", {"event": event})], now, wake=False
        ):
            return False
        conn.execute(t.event_consumptions.insert().values(event_row_id=row.id, run_id=run_id))
        return True
    return False


def event_shape(row: Any) -> dict[str, Any]:
    """The ``event`` value expressions see (SPEC §2)."""
    return {
        "id": row.event_id or row.id,
        "name": row.name,
        "key": row.key,
        "payload": row.payload,
        "receivedAt": iso(row.received_at),
    }


def open_task_wait(conn: Connection, task_id: str) -> int | None:
    """The id of the open wait of a human task, if any."""
    return conn.execute(
        sa.select(t.waits.c.id).where(
            t.waits.c.ref_id == task_id, t.waits.c.kind == "task", t.waits.c.status == "open"
        )
    ).scalar()


def open_timers(conn: Connection, run_id: str) -> list[Any]:
    """The run's open timer waits (id, token)."""
    return list(
        conn.execute(
            sa.select(t.waits.c.id, t.waits.c.token).where(
                t.waits.c.run_id == run_id, t.waits.c.status == "open", t.waits.c.kind == "timer"
            )
        ).all()
    )


_OPEN_WAITS = (
    sa.select(t.waits)
    .where(t.waits.c.run_id == sa.bindparam("run_id"), t.waits.c.status == "open")
    .order_by(t.waits.c.id)
)
"""Built once (``GET /api/runs/{id}`` reads it; see ``runs.run_of``)."""


def open_waits_of(conn: Connection, run_id: str) -> list[Any]:
    """The run's open waits, in the order they were opened."""
    return list(conn.execute(_OPEN_WAITS, {"run_id": run_id}).all())


def open_and_resolved_waits(conn: Connection, run_id: str) -> list[Any]:
    """The run's open and resolved waits (token, status, due_at, resolved_at)."""
    return list(
        conn.execute(
            sa.select(t.waits.c.token, t.waits.c.status, t.waits.c.due_at, t.waits.c.resolved_at)
            .where(t.waits.c.run_id == run_id)
            .where(t.waits.c.status.in_(("open", "resolved")))
        ).all()
    )
