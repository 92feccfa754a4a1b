"""The runs an operator looks for (SPEC §7 runs list, the console's runs screen): one
selection shared by the paged list, the counts per status and bulk cancel, so the three always
agree on which runs "the filtered set" is.

The list pages by keyset (created_at, id), newest first (``store.paging``). The walk runs down
ix_runs_created and stops after ``size`` matching rows. Over 100,000 runs on SQLite a page takes
a few ms for the common filters; the worst cases (a filter no run matches, the subject
substring search: a walk over every run) stay under 200 ms even on a loaded machine
(``benchmarks/runs_list.py``), so no index per filter is worth its cost on every run update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.paging import newest_first
from flowpin.types import ACTIVE_STATUSES


@dataclass(frozen=True, slots=True)
class RunSelection:
    """Which runs of a tenant, checked already (``engine.run_listing.RunFilter`` parses the
    request into it): every field given narrows the set (``None`` or empty: no condition).
    ``search``: a case-insensitive part of the subject, or a whole run id."""

    tenant_id: str
    workflow: str | None = None
    version: int | None = None
    statuses: tuple[str, ...] = ()
    subject: str | None = None
    search: str | None = None
    step: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    parent: str | None = None

    def conditions(self) -> list[Any]:
        runs = t.runs.c
        where: list[Any] = [runs.tenant_id == self.tenant_id]
        if self.workflow:
            where.append(runs.workflow_key == self.workflow)
        if self.version is not None:
            where.append(runs.version_number == self.version)
        if len(self.statuses) == 1:
            where.append(runs.status == self.statuses[0])
        elif self.statuses:
            where.append(runs.status.in_(self.statuses))
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
        if self.created_after is not None:
            where.append(runs.created_at >= self.created_after)
        if self.created_before is not None:
            where.append(runs.created_at < self.created_before)
        return where


def run_page(
    conn: Connection,
    selection: RunSelection,
    after: tuple[datetime | None, str] | None,
    size: int,
) -> list[Any]:
    """A page of the selected runs, newest first (one row more when more follow)."""
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
    ).where(*selection.conditions())
    return newest_first(conn, query, t.runs, "created_at", after, size)


def count_by_status(conn: Connection, selection: RunSelection) -> dict[str, int]:
    """How many selected runs have each status (statuses without runs left out)."""
    rows = conn.execute(
        sa.select(t.runs.c.status, sa.func.count())
        .where(*selection.conditions())
        .group_by(t.runs.c.status)
    ).all()
    return {status: count for status, count in rows}


def active_selected(conn: Connection, selection: RunSelection, limit: int) -> tuple[int, list[str]]:
    """The active selected runs: how many there are, and the ids of at most ``limit`` of them,
    oldest first."""
    where = [*selection.conditions(), t.runs.c.status.in_(ACTIVE_STATUSES)]
    total = conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one()
    ids = conn.execute(
        sa.select(t.runs.c.id).where(*where).order_by(t.runs.c.created_at, t.runs.c.id).limit(limit)
    ).scalars()
    return int(total), list(ids)


_RECORDED = (
    t.runs.c.id,
    t.runs.c.subject,
    t.runs.c.status,
    t.runs.c.version_number,
    t.runs.c.created_at,
    t.runs.c.payload,
    t.runs.c.output,
    t.runs.c.idempotency_key,
    t.runs.c.trigger,
)
"""What a shadow run replays a run with: its input (a schedule's run: its slot is in its key), its
outcome, no state."""


def latest_runs(conn: Connection, tenant_id: str, workflow_id: int, limit: int) -> list[Any]:
    """The workflow's ``limit`` newest runs (id, subject, status, version_number, created_at,
    payload, output)."""
    query = (
        sa.select(*_RECORDED)
        .where(t.runs.c.tenant_id == tenant_id, t.runs.c.workflow_id == workflow_id)
        .order_by(t.runs.c.created_at.desc(), t.runs.c.id.desc())
        .limit(limit)
    )
    return list(conn.execute(query).all())


def workflow_runs_among(
    conn: Connection, tenant_id: str, workflow_id: int, run_ids: list[str]
) -> dict[str, Any]:
    """The workflow's runs among ``run_ids`` (as ``latest_runs``), by id."""
    query = sa.select(*_RECORDED).where(
        t.runs.c.tenant_id == tenant_id,
        t.runs.c.workflow_id == workflow_id,
        t.runs.c.id.in_(run_ids),
    )
    return {row.id: row for row in conn.execute(query)}
