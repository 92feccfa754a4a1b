"""Starting runs from events (SPEC §2 triggers, §4.4) and submitting events.

An event is stored, resumes every matching wait, and starts a run of every workflow whose latest
version has a matching event trigger — all in the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.definitions.models import Definition, EventTrigger
from flowpin.engine.signals import (
    EventOutcome,
    event_shape,
    insert_event,
    resume_waits_for_event,
)
from flowpin.engine.starting import NewRun, check_payload, insert_run
from flowpin.errors import ExpressionError, FlowpinError
from flowpin.expressions.values import resolve
from flowpin.store import tables as t

log = logging.getLogger("flowpin.triggers")

DefinitionLookup = Callable[[Connection, int], Definition]


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
    row, created = insert_event(
        conn,
        tenant_id,
        name,
        key,
        payload,
        now,
        event_id=event_id,
        ttl_ms=ttl_ms,
        source_run_id=source_run_id,
    )
    if not created:
        earlier = row.result or {}
        return EventOutcome(
            event_id=row.event_id or row.id,
            resumed=list(earlier.get("resumed", [])),
            started=list(earlier.get("started", [])),
            duplicate=True,
        )
    event = event_shape(row)
    outcome = EventOutcome(event_id=event["id"])
    outcome.resumed = resume_waits_for_event(
        conn, tenant_id, event, row.id, now, buffered=row.expires_at is not None
    )
    outcome.started = start_triggered_runs(conn, tenant_id, event, now, definitions, schemas)
    conn.execute(
        t.events.update()
        .where(t.events.c.id == row.id)
        .values(
            result={"resumed": outcome.resumed, "started": outcome.started},
            matched=bool(outcome.resumed or outcome.started),
        )
    )
    return outcome


def start_triggered_runs(
    conn: Connection,
    tenant_id: str,
    event: dict[str, Any],
    now: datetime,
    definitions: DefinitionLookup,
    schemas: Any,
) -> list[str]:
    rows = conn.execute(
        sa.select(
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
            t.event_triggers.c.tenant_id == tenant_id,
            t.event_triggers.c.event_name == event["name"],
        )
        .order_by(t.event_triggers.c.id)
    ).all()
    started: list[str] = []
    for row in rows:
        if row.paused:
            continue
        definition = definitions(conn, row.version_id)
        trigger = definition.triggers[row.trigger_index]
        if not isinstance(trigger, EventTrigger):
            continue
        envelope = {"event": event}
        try:
            if trigger.filter is not None and not resolve(trigger.filter, envelope, now=now):
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
            check_payload(definition, payload, schemas)
        except (ExpressionError, FlowpinError) as exc:
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
        run_id = insert_run(conn, new, definition, now)
        if run_id is not None:
            started.append(run_id)
    return started
