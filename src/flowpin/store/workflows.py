"""Workflows and their versions: reading them (what publishing, the worker's schedules and
checkpoints share), drafts, publishing a version, the listings and settings of the console,
deleting a workflow; and the next slot of a schedule."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Connection

from flowpin.errors import NotFoundError
from flowpin.store import tables as t
from flowpin.store.dialects import dialect_of
from flowpin.store.statements import DriverRead
from flowpin.store.tenants import ensure_tenant as ensure_tenant
from flowpin.types import TERMINAL_STATUSES

_ENDED = tuple(sorted(TERMINAL_STATUSES))


def workflow_row(conn: Connection, tenant_id: str, key: str) -> Any:
    row = conn.execute(
        sa.select(t.workflows).where(t.workflows.c.tenant_id == tenant_id, t.workflows.c.key == key)
    ).first()
    if row is None:
        raise NotFoundError(f"workflow {key!r} not found", code="workflow.not_found")
    return row


def _start_target(numbered: bool) -> Any:
    """The workflow and one version of it (the newest, or ``:number``) in one statement; a
    workflow without that version still answers, with a NULL version."""
    w, v = t.workflows.c, t.workflow_versions.c
    on = v.workflow_id == w.id
    if numbered:
        on = sa.and_(on, v.number == sa.bindparam("number"))
    return (
        sa.select(w.id, w.key, v.id.label("version_id"), v.number.label("version_number"))
        .select_from(t.workflows.outerjoin(t.workflow_versions, on))
        .where(w.tenant_id == sa.bindparam("tenant_id"), w.key == sa.bindparam("key"))
        .order_by(v.number.desc())
        .limit(1)
    )


# On SQLite through the driver's cursor (``DriverRead``): every start reads one.
_NEWEST_TARGET = DriverRead(_start_target(numbered=False))
_NUMBERED_TARGET = DriverRead(_start_target(numbered=True))


def start_target(conn: Connection, tenant_id: str, key: str, version: int | None) -> Any:
    """What a start needs of a workflow and its version (``None``: the newest), read with one
    statement built once: ``id``, ``key``, ``version_id``, ``version_number``."""
    if version is None:
        row = _NEWEST_TARGET.first(conn, {"tenant_id": tenant_id, "key": key})
    else:
        params = {"tenant_id": tenant_id, "key": key, "number": version}
        row = _NUMBERED_TARGET.first(conn, params)
    if row is None:
        raise NotFoundError(f"workflow {key!r} not found", code="workflow.not_found")
    if row.version_id is None:
        which = "no published version" if version is None else f"no version {version}"
        raise NotFoundError(f"workflow has {which}", code="version.not_found")
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


def latest_version(conn: Connection, workflow_id: int) -> Any:
    """The newest version's number and hash, or None before the first publish."""
    return conn.execute(
        sa.select(t.workflow_versions.c.number, t.workflow_versions.c.hash)
        .where(t.workflow_versions.c.workflow_id == workflow_id)
        .order_by(t.workflow_versions.c.number.desc())
        .limit(1)
    ).first()


def latest_definition(conn: Connection, workflow_id: int) -> Any:
    """The newest version's definition document, or None before the first publish."""
    return conn.execute(
        sa.select(t.workflow_versions.c.definition)
        .where(t.workflow_versions.c.workflow_id == workflow_id)
        .order_by(t.workflow_versions.c.number.desc())
        .limit(1)
    ).scalar()


def workflow_list(
    conn: Connection, tenant_id: str, search: str | None, after_key: str | None, size: int
) -> list[Any]:
    """The tenant's workflows by key, after ``after_key`` (one row more than ``size`` when more
    follow), each with its latest version (number, ``latest_hash``, ``published_at``), its
    draft and its count of ``active`` runs; ``search`` matches key or name (case-insensitive
    substring)."""
    active = (
        sa.select(t.runs.c.workflow_id, sa.func.count().label("active"))
        .where(t.runs.c.tenant_id == tenant_id, t.runs.c.status.not_in(_ENDED))
        .group_by(t.runs.c.workflow_id)
        .subquery()
    )
    latest = (
        sa.select(
            t.workflow_versions.c.workflow_id,
            sa.func.max(t.workflow_versions.c.number).label("latest"),
        )
        .group_by(t.workflow_versions.c.workflow_id)
        .subquery()
    )
    published = t.workflow_versions.alias("published")
    query = (
        sa.select(
            t.workflows.c.key,
            t.workflows.c.name,
            t.workflows.c.paused,
            t.workflows.c.concurrency_limit,
            t.workflows.c.draft_revision,
            t.workflows.c.draft,
            t.workflows.c.updated_at,
            latest.c.latest,
            published.c.hash.label("latest_hash"),
            published.c.published_at,
            active.c.active,
        )
        .select_from(
            t.workflows.outerjoin(latest, latest.c.workflow_id == t.workflows.c.id)
            .outerjoin(
                published,
                sa.and_(
                    published.c.workflow_id == latest.c.workflow_id,
                    published.c.number == latest.c.latest,
                ),
            )
            .outerjoin(active, active.c.workflow_id == t.workflows.c.id)
        )
        .where(t.workflows.c.tenant_id == tenant_id)
    )
    if search:
        pattern = f"%{search.lower()}%"
        query = query.where(
            sa.or_(
                sa.func.lower(t.workflows.c.key).like(pattern),
                sa.func.lower(sa.func.coalesce(t.workflows.c.name, "")).like(pattern),
            )
        )
    if after_key is not None:
        query = query.where(t.workflows.c.key > after_key)
    return list(conn.execute(query.order_by(t.workflows.c.key).limit(size + 1)).all())


def active_runs_by_version(conn: Connection, workflow_id: int) -> list[tuple[int, int]]:
    """(version number, active runs) of each version with active runs."""
    return [
        (number, count)
        for number, count in conn.execute(
            sa.select(t.runs.c.version_number, sa.func.count())
            .where(t.runs.c.workflow_id == workflow_id, t.runs.c.status.not_in(_ENDED))
            .group_by(t.runs.c.version_number)
        ).all()
    ]


def count_active_runs(conn: Connection, workflow_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                t.runs.c.workflow_id == workflow_id, t.runs.c.status.not_in(_ENDED)
            )
        ).scalar_one()
    )


def active_run_ids(conn: Connection, tenant_id: str, workflow_id: int) -> list[str]:
    """The workflow's active runs, oldest first."""
    return list(
        conn.execute(
            sa.select(t.runs.c.id)
            .where(
                t.runs.c.workflow_id == workflow_id,
                t.runs.c.tenant_id == tenant_id,
                t.runs.c.status.not_in(_ENDED),
            )
            .order_by(t.runs.c.created_at)
        ).scalars()
    )


def workflow_exists(conn: Connection, tenant_id: str, key: str) -> bool:
    return (
        conn.execute(
            sa.select(t.workflows.c.id).where(
                t.workflows.c.tenant_id == tenant_id, t.workflows.c.key == key
            )
        ).first()
        is not None
    )


def update_workflow(conn: Connection, workflow_id: int, now: datetime, **values: Any) -> None:
    """Set columns of the workflow's row (``updated_at``: ``now``)."""
    conn.execute(
        t.workflows.update().where(t.workflows.c.id == workflow_id).values(**values, updated_at=now)
    )


def delete_workflow(conn: Connection, workflow_id: int) -> None:
    """Delete the workflow with its versions, triggers, runs and everything of its runs."""
    run_ids = sa.select(t.runs.c.id).where(t.runs.c.workflow_id == workflow_id).scalar_subquery()
    for table in (
        t.step_history,
        t.waits,
        t.human_tasks,
        t.run_inbox,
        t.action_ledger,
        t.event_consumptions,
    ):
        conn.execute(table.delete().where(table.c.run_id.in_(run_ids)))
    conn.execute(t.runs.delete().where(t.runs.c.workflow_id == workflow_id))
    conn.execute(t.event_triggers.delete().where(t.event_triggers.c.workflow_id == workflow_id))
    conn.execute(t.schedules.delete().where(t.schedules.c.workflow_id == workflow_id))
    conn.execute(
        t.workflow_versions.delete().where(t.workflow_versions.c.workflow_id == workflow_id)
    )
    conn.execute(t.workflows.delete().where(t.workflows.c.id == workflow_id))


def get_or_create_workflow(
    conn: Connection, tenant_id: str, key: str, name: str | None, now: datetime
) -> Any:
    """The workflow's row, inserted (with its tenant) when it is new."""
    ensure_tenant(conn, tenant_id, now)
    row = conn.execute(
        sa.select(t.workflows).where(t.workflows.c.tenant_id == tenant_id, t.workflows.c.key == key)
    ).first()
    if row is not None:
        return row
    conn.execute(
        t.workflows.insert().values(
            tenant_id=tenant_id, key=key, name=name, created_at=now, updated_at=now
        )
    )
    return workflow_row(conn, tenant_id, key)


def locked_workflow_row(conn: Connection, tenant_id: str, key: str) -> Any:
    """The workflow row, locked until the transaction ends (PostgreSQL; SQLite's write
    transaction already holds the database), so a check of its draft revision stays true."""
    query = sa.select(t.workflows).where(
        t.workflows.c.tenant_id == tenant_id, t.workflows.c.key == key
    )
    row = conn.execute(dialect_of(conn).locked(query)).first()
    if row is None:
        raise NotFoundError(f"workflow {key!r} not found", code="workflow.not_found")
    return row


def write_draft(
    conn: Connection,
    workflow_id: int,
    document: dict[str, Any],
    name: str | None,
    expected_revision: int | None,
    now: datetime,
) -> int | None:
    """Store the draft and return its new revision; None when ``expected_revision`` is given
    and the draft is no longer at it (a compare-and-set)."""
    condition = t.workflows.c.id == workflow_id
    if expected_revision is not None:
        condition = condition & (t.workflows.c.draft_revision == expected_revision)
    result = conn.execute(
        t.workflows.update()
        .where(condition)
        .values(
            draft=document,
            draft_revision=t.workflows.c.draft_revision + 1,
            name=name,
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        return None
    return int(
        conn.execute(
            sa.select(t.workflows.c.draft_revision).where(t.workflows.c.id == workflow_id)
        ).scalar_one()
    )


def draft_of(conn: Connection, workflow_id: int) -> Any:
    """The workflow's draft and its revision as they are now."""
    return conn.execute(
        sa.select(t.workflows.c.draft, t.workflows.c.draft_revision).where(
            t.workflows.c.id == workflow_id
        )
    ).one()


def version_with_hash(conn: Connection, workflow_id: int, digest: str) -> int | None:
    """The number of the workflow's version with this content hash, if published."""
    return conn.execute(
        sa.select(t.workflow_versions.c.number).where(
            t.workflow_versions.c.workflow_id == workflow_id, t.workflow_versions.c.hash == digest
        )
    ).scalar()


def insert_version(
    conn: Connection, workflow_id: int, digest: str, document: dict[str, Any], now: datetime
) -> tuple[int, int]:
    """Publish the next version of the workflow; returns its number and id."""
    latest = conn.execute(
        sa.select(sa.func.max(t.workflow_versions.c.number)).where(
            t.workflow_versions.c.workflow_id == workflow_id
        )
    ).scalar()
    number = (latest or 0) + 1
    version_id = conn.execute(
        t.workflow_versions.insert()
        .values(
            workflow_id=workflow_id,
            number=number,
            hash=digest,
            definition=document,
            published_at=now,
        )
        .returning(t.workflow_versions.c.id)
    ).scalar_one()
    return number, int(version_id)


def definition_of(conn: Connection, tenant_id: str, key: str, version: int | str) -> Any:
    """The definition document of the tenant's workflow ``key`` at ``version`` (a number, or
    ``"latest"``), or None when there is no such version."""
    query = (
        sa.select(t.workflow_versions.c.definition)
        .join(t.workflows, t.workflows.c.id == t.workflow_versions.c.workflow_id)
        .where(t.workflows.c.tenant_id == tenant_id, t.workflows.c.key == key)
    )
    if version == "latest":
        query = query.order_by(t.workflow_versions.c.number.desc()).limit(1)
    else:
        query = query.where(t.workflow_versions.c.number == version)
    return conn.execute(query).scalar()


def latest_number(conn: Connection, workflow_id: int) -> int | None:
    """The newest version's number, or None before the first publish."""
    return conn.execute(
        sa.select(sa.func.max(t.workflow_versions.c.number)).where(
            t.workflow_versions.c.workflow_id == workflow_id
        )
    ).scalar()


def position_groups(
    conn: Connection,
    tenant_id: str,
    workflow_id: int,
    statuses: tuple[str, ...],
    version: int | None = None,
) -> list[Any]:
    """``(version_number, status, positions, runs)`` rows for the workflow's runs of these
    statuses (of one version when ``version`` is given), through the index on (tenant,
    workflow, status): the per-step counts of ``engine.counts``."""
    query = (
        sa.select(
            t.runs.c.version_number,
            t.runs.c.status,
            t.runs.c.positions,
            sa.func.count().label("runs"),
        )
        .where(
            t.runs.c.tenant_id == tenant_id,
            t.runs.c.workflow_id == workflow_id,
            t.runs.c.status.in_(statuses),
        )
        .group_by(t.runs.c.version_number, t.runs.c.status, t.runs.c.positions)
    )
    if version is not None:
        query = query.where(t.runs.c.version_number == version)
    return list(conn.execute(query).all())


def version_definition(conn: Connection, version_id: int) -> Any:
    """The definition document of a published version (immutable: callers cache it)."""
    return conn.execute(
        sa.select(t.workflow_versions.c.definition).where(t.workflow_versions.c.id == version_id)
    ).scalar_one()
