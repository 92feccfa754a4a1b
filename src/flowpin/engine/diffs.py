"""``GET /api/workflows/{key}/diff``: two versions of a workflow (or a version and the draft)
compared by step id, each change with the active runs of the first version at, before and after
it, and its classification (see ``definitions.diff``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from flowpin.definitions.diff import assess, diff_definitions
from flowpin.definitions.loader import parse_definition
from flowpin.definitions.models import Definition
from flowpin.engine.counts import active_leaves
from flowpin.errors import DefinitionError, FlowpinError
from flowpin.store.database import Connection
from flowpin.store.workflows import version_row, workflow_row

DRAFT = "draft"


class BadVersion(FlowpinError):
    code = "diff.bad_version"


def parse_side(value: str | int | None, name: str) -> int | str | None:
    """A version number, ``"draft"`` or ``None`` (the default), from a query or CLI value."""
    if value is None or isinstance(value, int):
        return value
    text = value.strip().lower()
    if text == DRAFT:
        return DRAFT
    if text.startswith("v"):
        text = text[1:]
    if text.isdigit() and 0 < int(text) < 2**31:
        return int(text)
    raise BadVersion(f"{name} must be a version number or 'draft', not {value!r}")


def _load(document: Any, what: str) -> Definition:
    definition, problems = parse_definition(document)
    if definition is None:
        raise DefinitionError(
            f"{what} does not load: {problems[0].message if problems else 'invalid'}",
            code="definition.invalid",
            details=[p.to_dict() for p in problems],
        )
    return definition


def version_diff(
    conn: Connection,
    tenant_id: str,
    key: str,
    from_version: int | str | None = None,
    to: int | str | None = None,
) -> dict[str, Any]:
    """``from_version`` defaults to the latest version, ``to`` to the draft."""
    row = workflow_row(conn, tenant_id, key)
    if from_version == DRAFT:
        raise BadVersion("'from' must be a published version: runs only exist on those")
    a_row = version_row(conn, row.id, from_version if isinstance(from_version, int) else None)
    to = DRAFT if to is None else to
    if to == DRAFT:
        if row.draft is None:
            raise BadVersion(f"workflow {key!r} has no draft", code="draft.missing")
        b_document, b_label = {**row.draft, "key": key}, DRAFT
    else:
        b_document, b_label = version_row(conn, row.id, int(to)).definition, int(to)
    a = _load(a_row.definition, f"version {a_row.number}")
    b = _load(b_document, "the draft" if b_label == DRAFT else f"version {b_label}")
    diff = diff_definitions(a, b)
    positions = active_leaves(conn, tenant_id, row.id, a_row.number)
    impacts = assess(diff, a, b, positions)
    changes = [
        {**change.to_dict(), **impact.to_dict()}
        for change, impact in zip(diff.steps, impacts, strict=True)
    ]
    kinds = Counter(change["change"] for change in changes)
    classes = Counter(change["classification"] for change in changes)
    return {
        "workflow": key,
        "from": a_row.number,
        "to": b_label,
        "activeRuns": sum(positions.values()),
        "summary": {
            "changes": len(changes),
            **{kind: kinds[kind] for kind in ("added", "removed", "changed", "moved")},
            "typeChanged": kinds["typeChanged"],
            **{c: classes[c] for c in ("safe", "affects-in-flight", "needs-mapping")},
        },
        "changes": changes,
        "workflowChanges": [change.to_dict() for change in diff.workflow],
    }
