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
from flowpin.store.tenants import ensure_tenant as ensure_tenant


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
    """The published version (``None``: the newest), definition included."""
    return _version(conn, sa.select(t.workflow_versions), workflow_id, version)


def version_ref(conn: Connection, workflow_id: int, version: int | None) -> Any:
    """The version's id and number only (``version_row`` without its definition, which the
    definition cache keeps)."""
    versions = t.workflow_versions.c
    return _version(conn, sa.select(versions.id, versions.number), workflow_id, version)


def _version(conn: Connection, query: Any, workflow_id: int, version: int | None) -> Any:
    query = query.where(t.workflow_versions.c.workflow_id == workflow_id)
    if version is None:
        query = query.order_by(t.workflow_versions.c.number.desc()).limit(1)
    else:
        query = query.where(t.workflow_versions.c.number == version)
    row = conn.execute(query).first()
    if row is None:
        which = "no published version" if version is None else f"no version {version}"
        raise NotFoundError(f"workflow has {which}", code="version.not_found")
    return row


def versions_of(conn: Connection, workflow_id: int) -> list[Any]:
    """The workflow's published versions, oldest first."""
    return list(
        conn.execute(
            sa.select(t.workflow_versions)
            .where(t.workflow_versions.c.workflow_id == workflow_id)
            .order_by(t.workflow_versions.c.number)
        ).all()
    )
