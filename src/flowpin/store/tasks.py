"""Human tasks: the rows a ``human.task`` step opens and a person completes (SPEC §4.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from flowpin.store import tables as t


def complete_task(conn: Connection, task_id: str, data: Any, by: str | None, now: datetime) -> None:
    conn.execute(
        t.human_tasks.update()
        .where(t.human_tasks.c.id == task_id)
        .values(status="completed", data=data, completed_at=now, completed_by=by)
    )
