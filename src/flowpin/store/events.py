"""Submitting events (SPEC §4.4) and starting runs from event triggers (SPEC §2).

An event is stored, resumes every matching wait, and starts a run of every workflow whose latest
version has a matching event trigger — all in the caller's transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.definitions.models import Definition, EventTrigger
from flowpin.errors import ExpressionError, FlowpinError
from flowpin.expressions.rules import RuleError, evaluate_condition, is_rule
from flowpin.expressions.values import resolve
from flowpin.store import tables as t
from flowpin.store.dialects import Dialect, dialect_of
from flowpin.store.event_writes_pg import write_events_pg
from flowpin.store.runs import NewRun, check_payload, insert_runs
from flowpin.store.statements import DriverStatement, list_param, listed
from flowpin.store.waits import EndedWait, EventOutcome, event_accepted, iso, resolve_waits

log = logging.getLogger("flowpin.triggers")

DefinitionLookup = Callable[[Connection, int], Definition]


@dataclass(frozen=True, slots=True)
class EventIn:
    """One event to submit (SPEC §4.4)."""

    name: str
    key: str | None = None
    payload: Any = None
    event_id: str | None = None
    ttl_ms: int | None = None
    source_run_id: str | None = None


def submit_event(
    conn: Connection,
    tenant_id: str,
    name: str,
    key: str | None,
    payload: Any,
    now: datetime,
    definitions: DefinitionLookup,
    schemas: Any,
    *,
    event_id: str | None = None,
    ttl_ms: int | None = None,
    source_run_id: str | None = None,
) -> EventOutcome:
    event = EventIn(name, key, payload, event_id, ttl_ms, source_run_id)
    return submit_events(conn, tenant_id, [event], now, definitions, schemas)[0]


def submit_events(
    conn: Connection,
    tenant_id: str,
    events: Sequence[EventIn],
    now: datetime,
    definitions: DefinitionLookup,
    schemas: Any,
) -> list[EventOutcome]:
    """Store events, resume every matching open wait exactly once, start triggered runs — for a
    whole batch with a fixed number of statements, in the caller's transaction.

    The open waits are read inside the write transaction (SQLite: the writer lock; PostgreSQL:
    ``FOR UPDATE``), so an event and a timeout cannot both resolve one wait: whichever
    transaction resolves it first wins, the other no longer sees it open.
    """
    outcomes: list[EventOutcome | None] = [None] * len(events)
    earlier = _earlier_events(conn, tenant_id, events)
    fresh: list[tuple[int, EventIn, dict[str, Any]]] = []
    seen_ids: dict[str, int] = {}
    for index, item in enumerate(events):
        if item.event_id is not None and item.event_id in earlier:
            outcomes[index] = _duplicate(earlier[item.event_id])
            continue
        if item.event_id is not None and item.event_id in seen_ids:
            continue  # a duplicate inside this batch: answered after the first is processed
        row_id = str(uuid.uuid4())
        if item.event_id is not None:
            seen_ids[item.event_id] = index
        shape = {
            "id": item.event_id or row_id,
            "name": item.name,
            "key": item.key,
            "payload": item.payload,
            "receivedAt": iso(now),
            "_row": row_id,
        }
        fresh.append((index, item, shape))
    waits = _open_waits(conn, tenant_id, [(item.name, item.key) for _, item, _ in fresh])
    triggers = _event_triggers(conn, tenant_id, sorted({item.name for _, item, _ in fresh}))
    claimed: set[int] = set()
    ended: list[EndedWait] = []
    consumptions: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for index, item, shape in fresh:
        event = {k: v for k, v in shape.items() if k != "_row"}
        outcome = EventOutcome(event_id=event["id"])
        for wait in waits.get((item.name, item.key), []):
            if wait.id in claimed or not event_accepted(wait.filter, wait.filter_envelope, event):
                continue
            claimed.add(wait.id)
            ended.append(EndedWait(wait.id, wait.run_id, wait.token, "event", {"event": event}))
            if wait.run_id not in outcome.resumed:
                outcome.resumed.append(wait.run_id)
                if item.ttl_ms:
                    consumptions.append({"event_row_id": shape["_row"], "run_id": wait.run_id})
        outcome.started = start_triggered_runs(
            conn,
            tenant_id,
            event,
            now,
            definitions,
            schemas,
            triggers=triggers.get(item.name, []),
        )
        outcomes[index] = outcome
        event_rows.append(
            {
                "id": shape["_row"],
                "tenant_id": tenant_id,
                "event_id": item.event_id,
                "name": item.name,
                "key": item.key,
                "payload": item.payload,
                "source_run_id": item.source_run_id,
                "received_at": now,
                "expires_at": now + timedelta(milliseconds=item.ttl_ms) if item.ttl_ms else None,
                "result": {"resumed": outcome.resumed, "started": outcome.started},
                "matched": bool(outcome.resumed or outcome.started),
            }
        )
    # The waits were read FOR UPDATE above: every one of them is still open.
    if dialect_of(conn).concurrent_writers:
        write_events_pg(conn, ended, event_rows, now)  # one round trip for all of it
    else:
        resolve_waits(conn, ended, now)
        _INSERT_EVENTS.many(conn, event_rows)
    _INSERT_CONSUMPTIONS.many(conn, consumptions)
    for index, item in enumerate(events):
        if outcomes[index] is None:  # duplicate of an event earlier in this batch
            first = outcomes[seen_ids[item.event_id or ""]]
            assert first is not None
            outcomes[index] = EventOutcome(
                first.event_id, list(first.resumed), list(first.started), duplicate=True
            )
    return [outcome for outcome in outcomes if outcome is not None]


# The statements of an event's path, built once per dialect; on SQLite they run on the driver's
# cursor (``statements.DriverStatement``).
_EARLIER_EVENTS = DriverStatement(
    lambda dialect: sa.select(t.events.c.event_id, t.events.c.id, t.events.c.result).where(
        t.events.c.tenant_id == sa.bindparam("tenant"), listed(dialect, t.events.c.event_id, "ids")
    )
)


def _open_waits_query(dialect: Dialect, with_null_key: bool) -> Any:
    keys = listed(dialect, t.waits.c.correlation_key, "keys")
    query = (
        sa.select(
            t.waits.c.id,
            t.waits.c.run_id,
            t.waits.c.token,
            t.waits.c.event_name,
            t.waits.c.correlation_key,
            t.waits.c.filter,
            t.waits.c.filter_envelope,
        )
        .where(
            t.waits.c.tenant_id == sa.bindparam("tenant"),
            t.waits.c.kind == "event",
            t.waits.c.status == "open",
            listed(dialect, t.waits.c.event_name, "names"),
            sa.or_(keys, t.waits.c.correlation_key.is_(None)) if with_null_key else keys,
        )
        .order_by(t.waits.c.id)
    )
    return dialect.locked(query)


_OPEN_WAITS = DriverStatement(lambda dialect: _open_waits_query(dialect, False))
_OPEN_WAITS_OR_KEYLESS = DriverStatement(lambda dialect: _open_waits_query(dialect, True))
_INSERT_EVENTS = DriverStatement(lambda _dialect: t.events.insert())
_INSERT_CONSUMPTIONS = DriverStatement(lambda _dialect: t.event_consumptions.insert())
_EVENT_TRIGGERS = DriverStatement(
    lambda dialect: (
        sa.select(
            t.event_triggers.c.event_name,
            t.event_triggers.c.workflow_id,
            t.event_triggers.c.version_id,
            t.event_triggers.c.trigger_index,
            t.workflows.c.key,
            t.workflows.c.paused,
            t.workflow_versions.c.number,
        )
        .join(t.workflows, t.workflows.c.id == t.event_triggers.c.workflow_id)
        .join(t.workflow_versions, t.workflow_versions.c.id == t.event_triggers.c.version_id)
        .where(
            t.event_triggers.c.tenant_id == sa.bindparam("tenant"),
            listed(dialect, t.event_triggers.c.event_name, "names"),
        )
        .order_by(t.event_triggers.c.id)
    )
)


def _earlier_events(conn: Connection, tenant_id: str, events: Sequence[EventIn]) -> dict[str, Any]:
    ids = [item.event_id for item in events if item.event_id is not None]
    if not ids:
        return {}
    rows = _EARLIER_EVENTS.all(conn, {"tenant": tenant_id, "ids": list_param(conn, ids)})
    return {row.event_id: row for row in rows}


def _duplicate(row: Any) -> EventOutcome:
    result = row.result or {}
    return EventOutcome(
        event_id=row.event_id or row.id,
        resumed=list(result.get("resumed", [])),
        started=list(result.get("started", [])),
        duplicate=True,
    )


def _open_waits(
    conn: Connection, tenant_id: str, pairs: list[tuple[str, str | None]]
) -> dict[tuple[str, str | None], list[Any]]:
    if not pairs:
        return {}
    names = sorted({name for name, _ in pairs})
    keys = sorted({key for _, key in pairs if key is not None})
    keyless = any(key is None for _, key in pairs)
    query = _OPEN_WAITS_OR_KEYLESS if keyless else _OPEN_WAITS
    params = {
        "tenant": tenant_id,
        "names": list_param(conn, names),
        "keys": list_param(conn, keys),
    }
    grouped: dict[tuple[str, str | None], list[Any]] = {}
    for row in query.all(conn, params):
        grouped.setdefault((row.event_name, row.correlation_key), []).append(row)
    return grouped


def _event_triggers(conn: Connection, tenant_id: str, names: list[str]) -> dict[str, list[Any]]:
    """The event triggers of the latest versions, by event name, for a batch of names."""
    if not names:
        return {}
    rows = _EVENT_TRIGGERS.all(conn, {"tenant": tenant_id, "names": list_param(conn, names)})
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.event_name, []).append(row)
    return grouped


def _accepts(condition: Any, envelope: dict[str, Any], now: datetime) -> bool:
    """A trigger's ``filter``: a rule or group (SPEC §3.2, over ``event``), else a value whose
    resolved truth decides (``{"$expr": …}``, or a literal)."""
    if is_rule(condition):
        return evaluate_condition(condition, envelope, now=now)
    return bool(resolve(condition, envelope, now=now))


def start_triggered_runs(
    conn: Connection,
    tenant_id: str,
    event: dict[str, Any],
    now: datetime,
    definitions: DefinitionLookup,
    schemas: Any,
    *,
    triggers: list[Any] | None = None,
) -> list[str]:
    rows = (
        triggers
        if triggers is not None
        else _event_triggers(conn, tenant_id, [event["name"]]).get(event["name"], [])
    )
    new_runs: list[NewRun] = []
    for row in rows:
        if row.paused:
            continue
        definition = definitions(conn, row.version_id)
        trigger = definition.triggers[row.trigger_index]
        if not isinstance(trigger, EventTrigger):
            continue
        envelope = {"event": event}
        try:
            if trigger.filter is not None and not _accepts(trigger.filter, envelope, now):
                continue
            subject = (
                resolve(trigger.subject, envelope, now=now)
                if trigger.subject is not None
                else event["key"]
            )
            payload = (
                resolve(trigger.payload_mapping, envelope, now=now)
                if trigger.payload_mapping is not None
                else event["payload"]
            )
            check_payload(definition, payload, schemas, now)
        except (ExpressionError, FlowpinError, RuleError) as exc:
            log.warning(
                "trigger %s of %s did not start a run for event %s: %s",
                row.trigger_index,
                row.key,
                event["id"],
                exc,
            )
            continue
        subject = None if subject is None else str(subject)
        new = NewRun(
            tenant_id=tenant_id,
            workflow_id=row.workflow_id,
            workflow_key=row.key,
            version_id=row.version_id,
            version_number=row.number,
            definition=definition,
            payload=payload,
            subject=subject,
            trigger=f"event:{event['name']}",
            reentry_never_key=(
                f"{row.workflow_id}:{row.trigger_index}:{subject}"
                if trigger.reentry == "never"
                else None
            ),
            active_subject_key=(
                f"{row.workflow_id}:{subject}" if trigger.reentry == "notWhileActive" else None
            ),
        )
        new_runs.append(new)
    written = insert_runs(conn, new_runs, now)
    return [str(values["id"]) for values in written if values is not None]


def payloads_for_wait(conn: Connection, tenant_id: str, wait: Any, limit: int = 5) -> list[Any]:
    """Payloads of the events that may have resolved the event ``wait`` (a ``waits`` row): of
    its name and key, received between its creation (or buffered for it then) and its
    resolution, newest first. Another event of that name and key received meanwhile is among
    them too."""
    key = t.events.c.key
    return list(
        conn.execute(
            sa.select(t.events.c.payload)
            .where(
                t.events.c.tenant_id == tenant_id,
                t.events.c.name == wait.event_name,
                key.is_(None) if wait.correlation_key is None else key == wait.correlation_key,
                t.events.c.received_at <= wait.resolved_at,
                sa.or_(
                    t.events.c.received_at >= wait.created_at,
                    t.events.c.expires_at >= wait.created_at,
                ),
            )
            .order_by(t.events.c.received_at.desc())
            .limit(limit)
        ).scalars()
    )
