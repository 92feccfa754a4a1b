"""Reading workflows and their versions, the tenant row they hang from, and the next slot of a
schedule: what publishing (engine), the worker's schedules and checkpoints share."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Connection

from flowpin.errors import NotFoundError
from flowpin.store import tables as t


def ensure_tenant(conn: Connection, tenant_id: str, now: datetime) -> None:
    exists = conn.execute(sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id)).first()
    if not exists:
        conn.execute(t.tenants.insert().values(id=tenant_id, name=tenant_id, created_at=now))


def workflow_row(conn: Connection, tenant_id: str, key: str) -> Any:
    row = conn.execute(
        sa.select(t.workflows).where(t.workflows.c.tenant_id == tenant_id, t.workflows.c.key == key)
    ).first()
    if row is None:
        raise NotFoundError(f"workflow {key!r} not found", code="workflow.not_found")
    return row


def next_slot(cron: str, timezone: str, after: datetime) -> datetime:
    """The first cron slot strictly after ``after``, computed in the trigger's time zone (so
    "9:00 Europe/Berlin" follows daylight saving time), returned in UTC."""
    local = after.astimezone(ZoneInfo(timezone))
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return nxt.astimezone(ZoneInfo("UTC"))


def version_row(conn: Connection, workflow_id: int, version: int | None) -> Any:
    query = sa.select(t.workflow_versions).where(t.workflow_versions.c.workflow_id == workflow_id)
    if version is None:
        query = query.order_by(t.workflow_versions.c.number.desc()).limit(1)
    else:
        query = query.where(t.workflow_versions.c.number == version)
    row = conn.execute(query).first()
    if row is None:
        which = "no published version" if version is None else f"no version {version}"
        raise NotFoundError(f"workflow has {which}", code="version.not_found")
    return row
