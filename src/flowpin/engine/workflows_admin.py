"""Workflow administration and paged listings for the HTTP API (SPEC §5, §7): list and get
workflows, create, layout, settings, duplicate, delete; runs and events with cursor paging.

Every function takes the tenant and filters by it: another tenant's rows look like missing ones.
Cursors are opaque strings (base64 of the last row's sort key), stable under inserts.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any

from flowpin.definitions.canonical import version_hash
from flowpin.engine.publishing import save_draft
from flowpin.engine.views import iso
from flowpin.errors import ConflictError, FlowpinError
from flowpin.store import workflows
from flowpin.store.database import Connection
from flowpin.store.notify import signal_work
from flowpin.store.workflows import ensure_tenant, workflow_row

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_PAGE = 500


class BadRequest(FlowpinError):
    code = "request.invalid"


# ---------------------------------------------------------------- cursors


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("malformed cursor", code="request.bad_cursor") from None
    if not isinstance(parts, list) or len(parts) != size:
        raise BadRequest("malformed cursor", code="request.bad_cursor")
    return parts


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"not an ISO time: {value!r}", code="request.bad_time") from None
    if moment.tzinfo is None:
        raise BadRequest(f"time needs a zone (e.g. Z): {value!r}", code="request.bad_time")
    return moment


# ---------------------------------------------------------------- workflows


def _draft_changed(key: str, draft: Any, latest_hash: str | None) -> bool:
    """Whether publishing the draft now would make a new version (no version yet: a draft
    with steps counts as a change)."""
    if not isinstance(draft, dict):
        return False
    if latest_hash is None:
        return bool(draft.get("steps"))
    return version_hash({**draft, "key": key}) != latest_hash


def list_workflows(
    conn: Connection,
    tenant_id: str,
    *,
    search: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Workflows by key, with their latest version (and when it was published), whether the
    draft differs from it, and the active run count; ``search`` matches key or name
    (case-insensitive substring)."""
    after_key = None
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        after_key = str(after)
    size = _limit(limit)
    rows = workflows.workflow_list(conn, tenant_id, search, after_key, size)
    items = [
        {
            "key": r.key,
            "name": r.name,
            "paused": bool(r.paused),
            "concurrencyLimit": r.concurrency_limit,
            "draftRevision": r.draft_revision,
            "latestVersion": r.latest,
            "lastPublishedAt": iso(r.published_at) if r.published_at else None,
            "draftChanged": _draft_changed(r.key, r.draft, r.latest_hash),
            "activeRuns": r.active or 0,
            "updatedAt": iso(r.updated_at),
        }
        for r in rows[:size]
    ]
    next_cursor = encode_cursor(rows[size - 1].key) if len(rows) > size else None
    return {"items": items, "nextCursor": next_cursor}


def workflow_view(conn: Connection, tenant_id: str, key: str) -> dict[str, Any]:
    row = workflow_row(conn, tenant_id, key)
    versions = workflows.latest_version(conn, row.id)
    active = workflows.active_runs_by_version(conn, row.id)
    by_version = {str(number): count for number, count in active}
    latest = versions.number if versions else None
    older = sum(count for number, count in active if latest is not None and number < latest)
    return {
        "key": row.key,
        "name": row.name,
        "draft": row.draft,
        "draftRevision": row.draft_revision,
        "layout": row.layout or {},
        "paused": bool(row.paused),
        "concurrencyLimit": row.concurrency_limit,
        "latestVersion": latest,
        "latestHash": versions.hash if versions else None,
        "activeRuns": {"total": sum(by_version.values()), "byVersion": by_version},
        "runsOnOlderVersions": older,
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
    }


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        raise BadRequest(
            f"workflow key {key!r} must match {KEY_PATTERN.pattern}", code="workflow.bad_key"
        )
    return key


def create_workflow(
    conn: Connection,
    tenant_id: str,
    key: str,
    name: str | None,
    draft: dict[str, Any] | None,
    now: datetime,
) -> int:
    """A new workflow with its first draft; 409 when the key is taken."""
    check_key(key)
    ensure_tenant(conn, tenant_id, now)
    if workflows.workflow_exists(conn, tenant_id, key):
        raise ConflictError(f"workflow {key!r} already exists", code="workflow.exists")
    document = dict(draft) if draft is not None else {"key": key, "steps": []}
    document["key"] = key
    if name is not None:
        document["name"] = name
    document.setdefault("name", key)
    return save_draft(conn, tenant_id, document, now)


def set_layout(
    conn: Connection, tenant_id: str, key: str, layout: dict[str, Any], now: datetime
) -> dict[str, Any]:
    row = workflow_row(conn, tenant_id, key)
    workflows.update_workflow(conn, row.id, now, layout=layout)
    return layout


def update_settings(
    conn: Connection, tenant_id: str, key: str, changes: dict[str, Any], now: datetime
) -> None:
    row = workflow_row(conn, tenant_id, key)
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = changes["name"]
    if "paused" in changes:
        values["paused"] = bool(changes["paused"])
    if "concurrencyLimit" in changes:
        limit = changes["concurrencyLimit"]
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise BadRequest("concurrencyLimit must be a positive integer or null")
        values["concurrency_limit"] = limit
    if values:
        workflows.update_workflow(conn, row.id, now, **values)
    if "paused" in values or "concurrency_limit" in values:
        signal_work(conn)  # held or queued runs may be claimable now, in every process


def duplicate_workflow(
    conn: Connection,
    tenant_id: str,
    key: str,
    new_key: str,
    name: str | None,
    now: datetime,
) -> None:
    """A new workflow whose draft is the source's draft (or latest version) and whose layout is
    the source's; versions and runs are not copied."""
    source = workflow_row(conn, tenant_id, key)
    draft = source.draft
    if draft is None:
        draft = workflows.latest_definition(conn, source.id)
    document = dict(draft or {"steps": []})
    document["name"] = name or f"{source.name or key} (copy)"
    create_workflow(conn, tenant_id, new_key, document["name"], document, now)
    if source.layout:
        set_layout(conn, tenant_id, new_key, source.layout, now)


def delete_workflow(conn: Connection, tenant_id: str, key: str) -> None:
    """Delete a workflow with its versions, triggers and finished runs; 409 while runs of it
    are active (cancel them first)."""
    row = workflow_row(conn, tenant_id, key)
    active = workflows.count_active_runs(conn, row.id)
    if active:
        raise ConflictError(
            f"workflow {key!r} has {active} active run(s); cancel them first",
            code="workflow.has_active_runs",
            details={"activeRuns": active},
        )
    workflows.delete_workflow(conn, row.id)


def active_top_level_runs(conn: Connection, tenant_id: str, key: str) -> list[str]:
    row = workflow_row(conn, tenant_id, key)
    return workflows.active_run_ids(conn, tenant_id, row.id)


# ---------------------------------------------------------------- runs and events


def page_size(limit: int) -> int:
    """A page's size: ``limit`` within 1 and ``MAX_PAGE``."""
    return _limit(limit)


def after_of(cursor: str | None) -> tuple[datetime | None, str] | None:
    """The (time, id) a keyset cursor continues after (``store.paging``)."""
    if not cursor:
        return None
    at, last_id = decode_cursor(cursor, 2)
    return parse_time(at), str(last_id)


def next_cursor(rows: list[Any], size: int, time_column: str) -> str | None:
    """The cursor after a page of ``size`` (None when ``rows`` holds no row beyond it)."""
    if len(rows) <= size:
        return None
    last = rows[size - 1]
    return encode_cursor(getattr(last, time_column).isoformat(), last.id)
