"""Stored events as the console shows them (SPEC §7 events list): what each one did — the runs
it resumed, started, or that took it later from the buffer (``ttlMs``) — whether it reached no
run at all, and how long a buffered one stays available.

An event is "unmatched" when it resumed and started nothing when it arrived and no run has
consumed it from the buffer since; a buffered event that is still unmatched may yet be taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.engine.views import iso
from flowpin.engine.workflows_admin import BadRequest, keyset_page, parse_time
from flowpin.errors import NotFoundError
from flowpin.store import tables as t

OUTCOMES = ("matched", "unmatched")


def page_events(
    conn: Connection,
    tenant_id: str,
    now: datetime,
    *,
    name: str | None = None,
    key: str | None = None,
    outcome: str | None = None,
    received_after: str | datetime | None = None,
    received_before: str | datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Stored events newest first, with what each one did."""
    events = t.events.c
    query = sa.select(t.events).where(events.tenant_id == tenant_id)
    if name:
        query = query.where(events.name == name)
    if key:
        query = query.where(events.key == key)
    if outcome:
        if outcome not in OUTCOMES:
            raise BadRequest(
                f"outcome must be one of {', '.join(OUTCOMES)}", code="request.bad_outcome"
            )
        consumed = sa.exists().where(t.event_consumptions.c.event_row_id == events.id)
        reached = sa.or_(events.matched.is_(True), consumed)
        query = query.where(reached if outcome == "matched" else sa.not_(reached))
    after, before = parse_time(received_after), parse_time(received_before)
    if after is not None:
        query = query.where(events.received_at >= after)
    if before is not None:
        query = query.where(events.received_at < before)
    rows, size, next_cursor = keyset_page(conn, query, t.events, "received_at", cursor, limit)
    rows = rows[:size]
    consumers = _consumers(conn, [r.id for r in rows])
    items = [event_item(r, consumers.get(r.id, []), now) for r in rows]
    return {"items": items, "nextCursor": next_cursor}


def event_item(row: Any, consumed_by: list[str], now: datetime) -> dict[str, Any]:
    result = row.result if isinstance(row.result, dict) else {}
    resumed, started = list(result.get("resumed", [])), list(result.get("started", []))
    ttl_left = None
    if row.expires_at is not None:
        ttl_left = max(0, round((row.expires_at - now).total_seconds() * 1000))
    return {
        "id": row.id,
        "eventId": row.event_id,
        "name": row.name,
        "key": row.key,
        "payload": row.payload,
        "sourceRunId": row.source_run_id,
        "receivedAt": iso(row.received_at),
        "expiresAt": iso(row.expires_at),
        "ttlLeftMs": ttl_left,
        "matched": bool(row.matched) or bool(consumed_by),
        "unmatched": not (row.matched or consumed_by),
        "resumedRuns": resumed,
        "startedRuns": started,
        "consumedBy": consumed_by,
        "result": row.result,
    }


def _consumers(conn: Connection, event_ids: list[str]) -> dict[str, list[str]]:
    if not event_ids:
        return {}
    found: dict[str, list[str]] = {}
    rows = conn.execute(
        sa.select(t.event_consumptions).where(t.event_consumptions.c.event_row_id.in_(event_ids))
    ).all()
    for row in rows:
        found.setdefault(row.event_row_id, []).append(row.run_id)
    return found


def event_detail(conn: Connection, tenant_id: str, ident: str, now: datetime) -> dict[str, Any]:
    """One event by its stored id or the ``eventId`` it was submitted with, and the runs it
    touched: ``{runId, workflow, version, status, subject, relation}``, where relation is
    ``resumed``, ``started``, ``consumed`` (took it from the buffer later) or ``emitted``
    (the run that sent it)."""
    events = t.events.c
    row = conn.execute(
        sa.select(t.events).where(
            events.tenant_id == tenant_id, sa.or_(events.id == ident, events.event_id == ident)
        )
    ).first()
    if row is None:
        raise NotFoundError(f"event {ident} not found", code="event.not_found")
    item = event_item(row, _consumers(conn, [row.id]).get(row.id, []), now)
    relations = [
        *((run_id, "emitted") for run_id in [row.source_run_id] if run_id),
        *((run_id, "resumed") for run_id in item["resumedRuns"]),
        *((run_id, "started") for run_id in item["startedRuns"]),
        *((run_id, "consumed") for run_id in item["consumedBy"]),
    ]
    runs = t.runs.c
    found = {
        r.id: r
        for r in conn.execute(
            sa.select(
                runs.id, runs.workflow_key, runs.version_number, runs.status, runs.subject
            ).where(runs.tenant_id == tenant_id, runs.id.in_([r for r, _ in relations]))
        )
    }
    item["runs"] = [
        {
            "runId": run_id,
            "workflow": found[run_id].workflow_key,
            "version": found[run_id].version_number,
            "status": found[run_id].status,
            "subject": found[run_id].subject,
            "relation": relation,
        }
        for run_id, relation in relations
        if run_id in found
    ]
    return item


def touched_runs(item: dict[str, Any]) -> list[str]:
    """Every run an event item reached or came from (whose redaction rules mask its payload)."""
    source = [item["sourceRunId"]] if item.get("sourceRunId") else []
    return [*item["resumedRuns"], *item["startedRuns"], *item["consumedBy"], *source]
