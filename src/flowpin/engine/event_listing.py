"""Stored events as the console shows them (SPEC §7 events list): what each one did — the runs
it resumed, started, or that took it later from the buffer (``ttlMs``) — whether it reached no
run at all, and how long a buffered one stays available.

An event is "unmatched" when it resumed and started nothing when it arrived and no run has
consumed it from the buffer since; a buffered event that is still unmatched may yet be taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowpin.engine.views import iso
from flowpin.engine.workflows_admin import BadRequest, after_of, next_cursor, page_size, parse_time
from flowpin.errors import NotFoundError
from flowpin.store.database import Connection
from flowpin.store.event_lists import consumers, event_by_id, event_page, runs_by_id

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
    if outcome and outcome not in OUTCOMES:
        raise BadRequest(
            f"outcome must be one of {', '.join(OUTCOMES)}", code="request.bad_outcome"
        )
    after, before = parse_time(received_after), parse_time(received_before)
    size = page_size(limit)
    found = event_page(
        conn,
        tenant_id,
        name=name,
        key=key,
        matched=(outcome == "matched") if outcome else None,
        received_after=after,
        received_before=before,
        after=after_of(cursor),
        size=size,
    )
    rows = found[:size]
    taken = consumers(conn, [r.id for r in rows])
    items = [event_item(r, taken.get(r.id, []), now) for r in rows]
    return {"items": items, "nextCursor": next_cursor(found, size, "received_at")}


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


def event_detail(conn: Connection, tenant_id: str, ident: str, now: datetime) -> dict[str, Any]:
    """One event by its stored id or the ``eventId`` it was submitted with, and the runs it
    touched: ``{runId, workflow, version, status, subject, relation}``, where relation is
    ``resumed``, ``started``, ``consumed`` (took it from the buffer later) or ``emitted``
    (the run that sent it)."""
    row = event_by_id(conn, tenant_id, ident)
    if row is None:
        raise NotFoundError(f"event {ident} not found", code="event.not_found")
    item = event_item(row, consumers(conn, [row.id]).get(row.id, []), now)
    relations = [
        *((run_id, "emitted") for run_id in [row.source_run_id] if run_id),
        *((run_id, "resumed") for run_id in item["resumedRuns"]),
        *((run_id, "started") for run_id in item["startedRuns"]),
        *((run_id, "consumed") for run_id in item["consumedBy"]),
    ]
    found = runs_by_id(conn, tenant_id, [r for r, _ in relations])
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
