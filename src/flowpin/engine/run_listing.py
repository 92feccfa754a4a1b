"""The runs an operator looks for (SPEC §7 runs list, the console's runs screen): one filter
shape shared by the paged list, the counts per status and bulk cancel, so the three always
agree on which runs "the filtered set" is. The request is checked here and becomes a
``store.run_lists.RunSelection``; the statements, and why a keyset page is cheap, are there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowpin.engine.views import iso
from flowpin.engine.workflows_admin import BadRequest, after_of, next_cursor, page_size, parse_time
from flowpin.store.database import Connection
from flowpin.store.run_lists import (
    RunSelection,
    active_selected,
    count_by_status,
    run_page,
)
from flowpin.types import ACTIVE_STATUSES, RunStatus

RUN_STATUSES = tuple(status.value for status in RunStatus)


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
                names.extend(ACTIVE_STATUSES)
            elif name in RUN_STATUSES:
                names.append(name)
            elif name:
                raise BadRequest(
                    f"unknown run status {part.strip()!r}; one of "
                    f"{', '.join(RUN_STATUSES)} or active",
                    code="request.bad_status",
                )
        return names

    def selection(self, tenant_id: str, *, with_status: bool = True) -> RunSelection:
        """The store's selection of these runs (``with_status`` False: any status)."""
        return RunSelection(
            tenant_id,
            workflow=self.workflow,
            version=self.version,
            statuses=tuple(self.statuses()) if with_status else (),
            subject=self.subject,
            search=self.search,
            step=self.step,
            created_after=parse_time(self.created_after),
            created_before=parse_time(self.created_before),
            parent=self.parent,
        )


def page_runs(
    conn: Connection,
    tenant_id: str,
    selection: RunFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Runs newest first; ``nextCursor`` continues after the last item (None: no more)."""
    size = page_size(limit)
    rows = run_page(conn, selection.selection(tenant_id), after_of(cursor), size)
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
    return {"items": items, "nextCursor": next_cursor(rows, size, "created_at")}


def status_counts(conn: Connection, tenant_id: str, selection: RunFilter) -> dict[str, Any]:
    """How many runs of the filtered set have each status; the filter's own ``status`` is
    ignored, so the counts show what choosing another status would list."""
    counts = dict.fromkeys(RUN_STATUSES, 0)
    counts.update(count_by_status(conn, selection.selection(tenant_id, with_status=False)))
    return {"counts": counts, "total": sum(counts.values())}


def active_matching(
    conn: Connection, tenant_id: str, selection: RunFilter, limit: int
) -> tuple[int, list[str]]:
    """The active runs of the filtered set (a terminal run cannot be canceled): how many
    there are, and the ids of at most ``limit`` of them, oldest first."""
    return active_selected(conn, selection.selection(tenant_id), limit)
