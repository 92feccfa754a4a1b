"""The runs an operator looks for (SPEC §7 runs list, the console's runs screen): one filter
shape shared by the paged list, the counts per status and bulk cancel, so the three always
agree on which runs "the filtered set" is.

The list pages by keyset (created_at, id), newest first: a page costs the same at page 1 and
page 2,000, and rows added meanwhile never shift a page. The walk runs down ix_runs_created
and stops after ``limit`` matching rows. Over 100,000 runs on SQLite a page takes a few ms for
the common filters; the worst cases (a filter no run matches, the subject substring search:
a walk over every run) stay under 200 ms even on a loaded machine (``benchmarks/runs_list.py``),
so no index per filter is worth its cost on every run update.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.engine.views import iso
from flowpin.engine.workflows_admin import BadRequest, keyset_page, parse_time
from flowpin.store import tables as t

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED")
ACTIVE = ("PENDING", "RUNNING", "WAITING")


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs: every field given narrows the set (``None``: no condition).

    ``status``: one status or several separated by commas (``WAITING,FAILED``), or ``active``
    for PENDING, RUNNING and WAITING. ``subject``: the exact subject. ``search``: a
    case-insensitive part of the subject, or a whole run id. ``step``: a step the run is at
    now. ``created_after`` (inclusive) / ``created_before`` (exclusive): ISO times with a zone.
    ``parent``: the child runs of this run.
    """

    workflow: str | None = None
    version: int | None = None
    status: str | None = None
    subject: str | None = None
    search: str | None = None
    step: str | None = None
    created_after: str | datetime | None = None
    created_before: str | datetime | None = None
    parent: str | None = None

    def statuses(self) -> list[str]:
        if not self.status:
            return []
        names: list[str] = []
        for part in self.status.split(","):
            name = part.strip().upper()
            if name == "ACTIVE":
                names.extend(ACTIVE)
            elif name in t.RUN_STATUSES:
                names.append(name)
            elif name:
                raise BadRequest(
                    f"unknown run status {part.strip()!r}; one of "
                    f"{', '.join(t.RUN_STATUSES)} or active",
                    code="request.bad_status",
                )
        return names

    def conditions(self, tenant_id: str) -> list[Any]:
        runs = t.runs.c
        where: list[Any] = [runs.tenant_id == tenant_id]
        if self.workflow:
            where.append(runs.workflow_key == self.workflow)
        if self.version is not None:
            where.append(runs.version_number == self.version)
        statuses = self.statuses()
        if len(statuses) == 1:
            where.append(runs.status == statuses[0])
        elif statuses:
            where.append(runs.status.in_(statuses))
        if self.subject:
            where.append(runs.subject == self.subject)
        if self.search:
            text = self.search.strip()
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(sa.or_(runs.subject.ilike(f"%{escaped}%", escape="\\"), runs.id == text))
        if self.step:
            where.append(runs.current_step == self.step)
        if self.parent:
            where.append(runs.parent_run_id == self.parent)
        after, before = parse_time(self.created_after), parse_time(self.created_before)
        if after is not None:
            where.append(runs.created_at >= after)
        if before is not None:
            where.append(runs.created_at < before)
        return where


def page_runs(
    conn: Connection,
    tenant_id: str,
    selection: RunFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Runs newest first; ``nextCursor`` continues after the last item (None: no more)."""
    runs = t.runs.c
    query = sa.select(
        runs.id,
        runs.workflow_key,
        runs.version_number,
        runs.status,
        runs.subject,
        runs.current_step,
        runs.parent_run_id,
        runs.created_at,
        runs.updated_at,
        runs.finished_at,
    ).where(*selection.conditions(tenant_id))
    rows, size, next_cursor = keyset_page(conn, query, t.runs, "created_at", cursor, limit)
    items = [
        {
            "runId": r.id,
            "workflow": r.workflow_key,
            "version": r.version_number,
            "status": r.status,
            "subject": r.subject,
            "currentStep": r.current_step,
            "parentRunId": r.parent_run_id,
            "createdAt": iso(r.created_at),
            "updatedAt": iso(r.updated_at),
            "finishedAt": iso(r.finished_at),
        }
        for r in rows[:size]
    ]
    return {"items": items, "nextCursor": next_cursor}


def status_counts(conn: Connection, tenant_id: str, selection: RunFilter) -> dict[str, Any]:
    """How many runs of the filtered set have each status; the filter's own ``status`` is
    ignored, so the counts show what choosing another status would list."""
    unfiltered = replace(selection, status=None)
    rows = conn.execute(
        sa.select(t.runs.c.status, sa.func.count())
        .where(*unfiltered.conditions(tenant_id))
        .group_by(t.runs.c.status)
    ).all()
    counts = dict.fromkeys(t.RUN_STATUSES, 0)
    for status, count in rows:
        counts[status] = count
    return {"counts": counts, "total": sum(counts.values())}


def active_matching(
    conn: Connection, tenant_id: str, selection: RunFilter, limit: int
) -> tuple[int, list[str]]:
    """The active runs of the filtered set (a terminal run cannot be canceled): how many
    there are, and the ids of at most ``limit`` of them, oldest first."""
    where = [*selection.conditions(tenant_id), t.runs.c.status.in_(ACTIVE)]
    total = conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one()
    ids = conn.execute(
        sa.select(t.runs.c.id).where(*where).order_by(t.runs.c.created_at, t.runs.c.id).limit(limit)
    ).scalars()
    return int(total), list(ids)
