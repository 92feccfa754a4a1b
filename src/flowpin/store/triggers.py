"""A workflow's triggers as rows: event triggers (``event_triggers``, read by
``store.events``) and schedules (``schedules``, fired by the worker's timekeeping)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from flowpin.definitions.models import Definition, EventTrigger, ScheduleTrigger
from flowpin.store import tables as t
from flowpin.store.workflows import next_slot


def install_triggers(
    conn: Connection,
    tenant_id: str,
    workflow_id: int,
    version_id: int,
    definition: Definition,
    now: datetime,
) -> None:
    """Only the latest version's triggers start runs: replace the workflow's trigger rows."""
    conn.execute(t.event_triggers.delete().where(t.event_triggers.c.workflow_id == workflow_id))
    conn.execute(t.schedules.delete().where(t.schedules.c.workflow_id == workflow_id))
    for index, trigger in enumerate(definition.triggers):
        if isinstance(trigger, EventTrigger):
            conn.execute(
                t.event_triggers.insert().values(
                    tenant_id=tenant_id,
                    workflow_id=workflow_id,
                    version_id=version_id,
                    trigger_index=index,
                    event_name=trigger.event_name,
                )
            )
        elif isinstance(trigger, ScheduleTrigger):
            conn.execute(
                t.schedules.insert().values(
                    tenant_id=tenant_id,
                    workflow_id=workflow_id,
                    version_id=version_id,
                    trigger_index=index,
                    cron=trigger.cron,
                    timezone=trigger.timezone,
                    payload=trigger.payload,
                    next_fire_at=next_slot(trigger.cron, trigger.timezone, now),
                )
            )
