"""Drafts and published versions (SPEC §5): saving a draft never affects runs; publishing
validates, then inserts an immutable version, or returns the existing one with the same hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flowpin.definitions.canonical import version_hash
from flowpin.definitions.loader import load_definition
from flowpin.definitions.models import Definition
from flowpin.definitions.validate import validate
from flowpin.engine.call_graph import call_cycles
from flowpin.errors import ConflictError, DefinitionError
from flowpin.store.database import Connection
from flowpin.store.triggers import install_triggers
from flowpin.store.workflows import (
    draft_of,
    get_or_create_workflow,
    insert_version,
    update_workflow,
    version_with_hash,
    write_draft,
)


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    workflow: str
    version: int
    hash: str
    created: bool
    """False when identical content was already published (the existing version is returned)."""
    problems: list[dict[str, Any]] = field(default_factory=list)
    """Warnings (errors prevent publishing)."""


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
    row = get_or_create_workflow(conn, tenant_id, key, document.get("name"), now)
    name = document.get("name") or row.name
    revision = write_draft(conn, row.id, document, name, expected_revision, now)
    if revision is None:
        raise draft_conflict(conn, row.id, key, expected_revision)
    return revision


def draft_conflict(
    conn: Connection, workflow_id: int, key: str, expected_revision: int | None
) -> ConflictError:
    """The 409 of a stale save or publish: it carries the draft as it is now (read in the same
    transaction), so the editor can merge or reload without another round trip."""
    current = draft_of(conn, workflow_id)
    return ConflictError(
        f"the draft of {key!r} is at revision {current.draft_revision}, not "
        f"{expected_revision}: someone saved since this edit began",
        code="draft.conflict",
        details={"currentRevision": current.draft_revision, "draft": current.draft},
    )


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
    row = get_or_create_workflow(conn, tenant_id, definition.key, definition.name, now)
    problems += call_cycles(conn, tenant_id, definition)
    warnings = [p.to_dict() for p in problems]
    existing = version_with_hash(conn, row.id, digest)
    if existing is not None:
        return PublishedVersion(definition.key, existing, digest, False, warnings)
    number, version_id = insert_version(conn, row.id, digest, document, now)
    install_triggers(conn, tenant_id, row.id, version_id, definition, now)
    if row.draft is None:
        update_workflow(conn, row.id, now, draft=document, draft_revision=1)
    return PublishedVersion(definition.key, number, digest, True, warnings)
