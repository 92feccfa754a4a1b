"""Drafts and published versions (SPEC §5): saving a draft never affects runs; publishing
validates, then inserts an immutable version, or returns the existing one with the same hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.definitions.canonical import version_hash
from flowpin.definitions.loader import load_definition
from flowpin.definitions.models import Definition, EventTrigger, ScheduleTrigger
from flowpin.definitions.validate import validate
from flowpin.engine.call_graph import call_cycles
from flowpin.errors import ConflictError, DefinitionError, NotFoundError
from flowpin.store import tables as t
from flowpin.store.dialects import dialect_of
from flowpin.store.workflows import ensure_tenant, next_slot, workflow_row


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    workflow: str
    version: int
    hash: str
    created: bool
    """False when identical content was already published (the existing version is returned)."""
    problems: list[dict[str, Any]] = field(default_factory=list)
    """Warnings (errors prevent publishing)."""


def _get_or_create_workflow(
    conn: Connection, tenant_id: str, key: str, name: str | None, now: datetime
) -> Any:
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


def save_draft(
    conn: Connection,
    tenant_id: str,
    document: dict[str, Any],
    now: datetime,
    *,
    expected_revision: int | None = None,
) -> int:
    """Store the draft (valid or not) and return its new revision; ``expected_revision`` makes
    the save a compare-and-set so two editors cannot silently overwrite each other."""
    key = document.get("key")
    if not isinstance(key, str):
        raise DefinitionError("the draft needs a string 'key'", code="definition.invalid")
    row = _get_or_create_workflow(conn, tenant_id, key, document.get("name"), now)
    condition = t.workflows.c.id == row.id
    if expected_revision is not None:
        condition = condition & (t.workflows.c.draft_revision == expected_revision)
    result = conn.execute(
        t.workflows.update()
        .where(condition)
        .values(
            draft=document,
            draft_revision=t.workflows.c.draft_revision + 1,
            name=document.get("name") or row.name,
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        raise draft_conflict(conn, row.id, key, expected_revision)
    return int(
        conn.execute(
            sa.select(t.workflows.c.draft_revision).where(t.workflows.c.id == row.id)
        ).scalar_one()
    )


def draft_conflict(
    conn: Connection, workflow_id: int, key: str, expected_revision: int | None
) -> ConflictError:
    """The 409 of a stale save or publish: it carries the draft as it is now (read in the same
    transaction), so the editor can merge or reload without another round trip."""
    current = conn.execute(
        sa.select(t.workflows.c.draft, t.workflows.c.draft_revision).where(
            t.workflows.c.id == workflow_id
        )
    ).one()
    return ConflictError(
        f"the draft of {key!r} is at revision {current.draft_revision}, not "
        f"{expected_revision}: someone saved since this edit began",
        code="draft.conflict",
        details={"currentRevision": current.draft_revision, "draft": current.draft},
    )


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


def publish(
    conn: Connection,
    tenant_id: str,
    document: dict[str, Any] | Definition,
    catalog: Any,
    now: datetime,
) -> PublishedVersion:
    if isinstance(document, Definition):
        document = document.to_json()
    problems = validate(document, catalog)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise DefinitionError(
            f"definition has {len(errors)} error(s): {errors[0].message}",
            code="definition.invalid",
            details=[p.to_dict() for p in problems],
        )
    definition = load_definition(document)
    digest = version_hash(document)
    row = _get_or_create_workflow(conn, tenant_id, definition.key, definition.name, now)
    problems += call_cycles(conn, tenant_id, definition)
    warnings = [p.to_dict() for p in problems]
    existing = conn.execute(
        sa.select(t.workflow_versions.c.number).where(
            t.workflow_versions.c.workflow_id == row.id, t.workflow_versions.c.hash == digest
        )
    ).first()
    if existing is not None:
        return PublishedVersion(definition.key, existing.number, digest, False, warnings)
    latest = conn.execute(
        sa.select(sa.func.max(t.workflow_versions.c.number)).where(
            t.workflow_versions.c.workflow_id == row.id
        )
    ).scalar()
    number = (latest or 0) + 1
    version_id = conn.execute(
        t.workflow_versions.insert()
        .values(
            workflow_id=row.id, number=number, hash=digest, definition=document, published_at=now
        )
        .returning(t.workflow_versions.c.id)
    ).scalar_one()
    _install_triggers(conn, tenant_id, row.id, version_id, definition, now)
    if row.draft is None:
        conn.execute(
            t.workflows.update()
            .where(t.workflows.c.id == row.id)
            .values(draft=document, draft_revision=1, updated_at=now)
        )
    return PublishedVersion(definition.key, number, digest, True, warnings)


def _install_triggers(
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
