"""Human tasks: the rows a ``human.task`` step opens (with the wait that parks the run) and a
person completes (SPEC §4.5), or that end at their deadline or with the step or the run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class NewTask:
    id: str
    tenant_id: str
    run_id: str
    token: str
    step_id: str
    title: str | None
    description: str | None
    assignee: str | None
    form_schema: Any
    due_at: datetime | None


def insert_task(conn: Connection, task: NewTask, now: datetime) -> bool:
    """Create the task unless a task of its id exists (a step re-issued after a lost claim);
    returns whether it was created."""
    exists = conn.execute(sa.select(t.human_tasks.c.id).where(t.human_tasks.c.id == task.id))
    if exists.first():
        return False
    conn.execute(
        t.human_tasks.insert().values(
            id=task.id,
            tenant_id=task.tenant_id,
            run_id=task.run_id,
            token=task.token,
            step_id=task.step_id,
            title=task.title,
            description=task.description,
            assignee=task.assignee,
            form_schema=task.form_schema,
            status="open",
            due_at=task.due_at,
            created_at=now,
        )
    )
    return True


def end_open_tasks(conn: Connection, task_ids: Sequence[str], status: str, now: datetime) -> None:
    """The open tasks among ``task_ids`` end with ``status`` (``canceled``, ``timed_out``)."""
    if not task_ids:
        return
    conn.execute(
        t.human_tasks.update()
        .where(t.human_tasks.c.id.in_(list(task_ids)), t.human_tasks.c.status == "open")
        .values(status=status, completed_at=now)
    )


def completed_task_data(
    conn: Connection, run_id: str, step_ids: Sequence[str], since: datetime | None
) -> list[Any]:
    """``(step_id, data)`` of the run's completed tasks of ``step_ids`` (``since``: completed
    from then on)."""
    query = sa.select(t.human_tasks.c.step_id, t.human_tasks.c.data).where(
        t.human_tasks.c.run_id == run_id,
        t.human_tasks.c.status == "completed",
        t.human_tasks.c.step_id.in_(sorted(step_ids)),
    )
    if since is not None:
        query = query.where(t.human_tasks.c.completed_at >= since)
    return list(conn.execute(query))
