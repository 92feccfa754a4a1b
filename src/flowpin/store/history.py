"""A run's history rows written outside a checkpoint (the checkpoint's own go through
``bulk.INSERT_HISTORY``).

Operator actions in a run's history: cancel, resume, retry and rerun each add one row, so the
timeline shows who did what and when beside the steps themselves.

A row has ``stepId`` ``$operator`` (no step of a definition can have that id: ids are
``[A-Za-z0-9_-]``-like, ``$`` is refused), ``type`` ``operator``, ``status`` the action
(``canceled``, ``resumed``, ``retried``, ``rerun``) and ``detail`` ``{"action", "by", …}``. Like the
``$migration`` row of a migration, it belongs to no position of the run: the interpreter never
reads history, so it changes nothing in how the run goes on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from flowpin.store import tables as t

OPERATOR_STEP_ID = "$operator"


def record_operator(
    conn: Connection,
    run_id: str,
    version: int,
    action: str,
    now: datetime,
    *,
    by: str | None = None,
    **detail: Any,
) -> None:
    conn.execute(
        t.step_history.insert().values(
            run_id=run_id,
            step_id=OPERATOR_STEP_ID,
            token="",
            step_type="operator",
            version_number=version,
            attempt=1,
            status=action,
            logical_time=now,
            recorded_at=now,
            started_at=now,
            detail={"action": action, "by": by, **detail},
        )
    )
