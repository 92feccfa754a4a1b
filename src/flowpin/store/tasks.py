"""Human tasks: the rows a ``human.task`` step opens and a person completes (SPEC §4.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t


def complete_task(conn: Connection, task_id: str, data: Any, by: str | None, now: datetime) -> None:
    conn.execute(
        t.human_tasks.update()
        .where(t.human_tasks.c.id == task_id)
        .values(status="completed", data=data, completed_at=now, completed_by=by)
    )


def _tasks_with_runs() -> Any:
    """Tasks with their run's workflow and subject (what an inbox shows beside the title)."""
    return sa.select(
        t.human_tasks, t.runs.c.workflow_key.label("workflow"), t.runs.c.subject.label("subject")
    ).select_from(t.human_tasks.outerjoin(t.runs, t.runs.c.id == t.human_tasks.c.run_id))


def task_of(conn: Connection, tenant_id: str, task_id: str) -> Any:
    """The tenant's task with its run's ``workflow`` and ``subject``, or None."""
    return conn.execute(
        _tasks_with_runs().where(
            t.human_tasks.c.id == task_id, t.human_tasks.c.tenant_id == tenant_id
        )
    ).first()


def tasks_of(
    conn: Connection,
    tenant_id: str,
    *,
    status: str | None,
    assignee: str | None,
    run_id: str | None,
) -> list[Any]:
    """The tenant's tasks (as ``task_of``), oldest first; each argument given narrows them."""
    query = _tasks_with_runs().where(t.human_tasks.c.tenant_id == tenant_id)
    if status:
        query = query.where(t.human_tasks.c.status == status)
    if assignee:
        query = query.where(t.human_tasks.c.assignee == assignee)
    if run_id:
        query = query.where(t.human_tasks.c.run_id == run_id)
    order = (t.human_tasks.c.created_at, t.human_tasks.c.id)
    return list(conn.execute(query.order_by(*order)))
