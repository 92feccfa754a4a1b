"""Resolving waits: events, timeouts, timers, task completions and finished children.

Every way a wait can end goes through ``claim_wait``: ``UPDATE waits SET status='resolved'
WHERE id=? AND status='open'``. Whoever changes the row wins; the loser sees rowcount 0 and does
nothing, so an event and a timeout racing for one wait resolve it exactly once. The winner
records the input in the run's inbox and wakes the run, in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.errors import ExpressionError
from flowpin.expressions.jsonata import compile_expression
from flowpin.store import tables as t

log = logging.getLogger("flowpin.events")

ACTIVE = ("PENDING", "RUNNING", "WAITING")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def add_inbox(
    conn: Connection, run_id: str, token: str, kind: str, body: Any, at: datetime
) -> None:
    conn.execute(
        t.run_inbox.insert().values(run_id=run_id, token=token, kind=kind, body=body, at=at)
    )


def wake_runs(conn: Connection, run_ids: list[str], now: datetime) -> None:
    if not run_ids:
        return
    conn.execute(
        t.runs.update()
        .where(t.runs.c.id.in_(run_ids), t.runs.c.status.in_(ACTIVE), t.runs.c.wake_at.is_(None))
        .values(wake_at=now)
    )


def claim_wait(conn: Connection, wait_id: int, now: datetime, status: str = "resolved") -> bool:
    result = conn.execute(
        t.waits.update()
        .where(t.waits.c.id == wait_id, t.waits.c.status == "open")
        .values(status=status, resolved_at=now)
    )
    return result.rowcount == 1


def event_accepted(filter_source: str | None, envelope: Any, event: dict[str, Any]) -> bool:
    """A wait's filter decides; a filter that fails to evaluate rejects the event (and is
    logged), it never breaks the submission for the other waits."""
    if not filter_source:
        return True
    data = dict(envelope or {})
    data["event"] = event
    try:
        return bool(compile_expression(filter_source).evaluate(data, now=event.get("receivedAt")))
    except ExpressionError as exc:
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


def resume_waits_for_event(
    conn: Connection,
    tenant_id: str,
    event: dict[str, Any],
    event_row_id: str,
    now: datetime,
    *,
    buffered: bool,
) -> list[str]:
    """Resume every open wait for this event's name and key whose filter accepts it, each
    exactly once."""
    key_condition = (
        t.waits.c.correlation_key.is_(None)
        if event["key"] is None
        else t.waits.c.correlation_key == event["key"]
    )
    rows = conn.execute(
        sa.select(
            t.waits.c.id,
            t.waits.c.run_id,
            t.waits.c.token,
            t.waits.c.filter,
            t.waits.c.filter_envelope,
        )
        .where(
            t.waits.c.tenant_id == tenant_id,
            t.waits.c.event_name == event["name"],
            key_condition,
            t.waits.c.status == "open",
            t.waits.c.kind == "event",
        )
        .order_by(t.waits.c.id)
    ).all()
    resumed: list[str] = []
    for row in rows:
        if not event_accepted(row.filter, row.filter_envelope, event):
            continue
        if not claim_wait(conn, row.id, now):
            continue
        add_inbox(conn, row.run_id, row.token, "event", {"event": event}, now)
        if buffered and row.run_id not in resumed:
            conn.execute(
                t.event_consumptions.insert().values(event_row_id=event_row_id, run_id=row.run_id)
            )
        if row.run_id not in resumed:
            resumed.append(row.run_id)
    wake_runs(conn, resumed, now)
    return resumed


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
    consumed = sa.select(t.event_consumptions.c.event_row_id).where(
        t.event_consumptions.c.run_id == run_id
    )
    rows = conn.execute(
        sa.select(t.events)
        .where(
            t.events.c.tenant_id == tenant_id,
            t.events.c.name == name,
            key_condition,
            t.events.c.expires_at > now,
            t.events.c.id.not_in(consumed),
        )
        .order_by(t.events.c.received_at)
    ).all()
    for row in rows:
        event = event_shape(row)
        if not event_accepted(filter_source, envelope, event):
            continue
        if not claim_wait(conn, wait_id, now):
            return False
        add_inbox(conn, run_id, token, "event", {"event": event}, now)
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


def insert_event(
    conn: Connection,
    tenant_id: str,
    name: str,
    key: str | None,
    payload: Any,
    now: datetime,
    *,
    event_id: str | None = None,
    ttl_ms: int | None = None,
    source_run_id: str | None = None,
) -> tuple[Any, bool]:
    """Insert the event row, or return the earlier one with the same ``event_id``
    (``(row, False)``)."""
    if event_id is not None:
        existing = conn.execute(
            sa.select(t.events).where(
                t.events.c.tenant_id == tenant_id, t.events.c.event_id == event_id
            )
        ).first()
        if existing is not None:
            return existing, False
    row_id = str(uuid.uuid4())
    conn.execute(
        t.events.insert().values(
            id=row_id,
            tenant_id=tenant_id,
            event_id=event_id,
            name=name,
            key=key,
            payload=payload,
            source_run_id=source_run_id,
            received_at=now,
            expires_at=now + timedelta(milliseconds=ttl_ms) if ttl_ms else None,
        )
    )
    row = conn.execute(sa.select(t.events).where(t.events.c.id == row_id)).one()
    return row, True
