"""Resolving waits: events, timeouts, timers, task completions and finished children.

Every way a wait can end goes through ``claim_wait``: ``UPDATE waits SET status='resolved'
WHERE id=? AND status='open'``. Whoever changes the row wins; the loser sees rowcount 0 and does
nothing, so an event and a timeout racing for one wait resolve it exactly once. The winner
records the input in the run's inbox and wakes the run, in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.errors import ExpressionError
from flowpin.expressions.jsonata import compile_expression
from flowpin.store import tables as t
from flowpin.store.notify import signal_work
from flowpin.store.statements import built_once, list_param, listed

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


_WAKE_RUNS = built_once(
    lambda dialect: (
        t.runs.update()
        .where(
            listed(dialect, t.runs.c.id, "ids"),
            t.runs.c.status.in_(ACTIVE),
            t.runs.c.wake_at.is_(None),
        )
        .values(wake_at=sa.bindparam("now", type_=t.runs.c.wake_at.type))
    )
)


def wake_runs(conn: Connection, run_ids: list[str], now: datetime) -> None:
    if not run_ids:
        return
    conn.execute(_WAKE_RUNS(conn), {"ids": list_param(conn, run_ids), "now": now})
    signal_work(conn)


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
