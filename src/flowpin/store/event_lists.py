"""Stored events as the console lists them: a page of a tenant's events, one event by either of
its ids, the runs that took each from the buffer, and the runs an event touched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.paging import newest_first


def event_page(
    conn: Connection,
    tenant_id: str,
    *,
    name: str | None,
    key: str | None,
    matched: bool | None,
    received_after: datetime | None,
    received_before: datetime | None,
    after: tuple[datetime | None, str] | None,
    size: int,
) -> list[Any]:
    """A page of stored events, newest first (one row more when more follow). ``matched``:
    only events that reached a run (it resumed or started one when it arrived, or a run took it
    from the buffer since), or (False) only those that reached none."""
    events = t.events.c
    query = sa.select(t.events).where(events.tenant_id == tenant_id)
    if name:
        query = query.where(events.name == name)
    if key:
        query = query.where(events.key == key)
    if matched is not None:
        consumed = sa.exists().where(t.event_consumptions.c.event_row_id == events.id)
        reached = sa.or_(events.matched.is_(True), consumed)
        query = query.where(reached if matched else sa.not_(reached))
    if received_after is not None:
        query = query.where(events.received_at >= received_after)
    if received_before is not None:
        query = query.where(events.received_at < received_before)
    return newest_first(conn, query, t.events, "received_at", after, size)


def consumers(conn: Connection, event_ids: list[str]) -> dict[str, list[str]]:
    """The runs that took each event from the buffer."""
    if not event_ids:
        return {}
    found: dict[str, list[str]] = {}
    rows = conn.execute(
        sa.select(t.event_consumptions).where(t.event_consumptions.c.event_row_id.in_(event_ids))
    ).all()
    for row in rows:
        found.setdefault(row.event_row_id, []).append(row.run_id)
    return found


def event_by_id(conn: Connection, tenant_id: str, ident: str) -> Any:
    """The event stored as ``ident`` or submitted with ``eventId`` ``ident``, or None."""
    events = t.events.c
    return conn.execute(
        sa.select(t.events).where(
            events.tenant_id == tenant_id, sa.or_(events.id == ident, events.event_id == ident)
        )
    ).first()


def runs_by_id(conn: Connection, tenant_id: str, run_ids: list[str]) -> dict[str, Any]:
    """The tenant's runs among ``run_ids`` (id, workflow_key, version_number, status,
    subject), by id."""
    runs = t.runs.c
    return {
        r.id: r
        for r in conn.execute(
            sa.select(
                runs.id, runs.workflow_key, runs.version_number, runs.status, runs.subject
            ).where(runs.tenant_id == tenant_id, runs.id.in_(run_ids))
        )
    }
