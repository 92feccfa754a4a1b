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

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.bulk import INSERT_HISTORY, Bulk, HistoryRow, json_param

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


def history_of(conn: Connection, run_id: str) -> list[Any]:
    """The run's history rows, oldest first."""
    return list(
        conn.execute(
            sa.select(t.step_history)
            .where(t.step_history.c.run_id == run_id)
            .order_by(t.step_history.c.id)
        ).all()
    )


def step_rows_of(conn: Connection, run_id: str) -> list[Any]:
    """The run's history rows of steps (not a migration's or an operator's), oldest first."""
    history = t.step_history
    return list(
        conn.execute(
            sa.select(history)
            .where(
                history.c.run_id == run_id,
                history.c.step_type.not_in(("migration", "operator")),  # no step's rows
            )
            .order_by(history.c.id)
        )
    )


MIGRATION_STEP_ID = "$migration"


def record_migrations(
    conn: Connection, moved: list[tuple[str, Any]], version: int, now: datetime
) -> None:
    """A ``$migration`` row per moved run (``(run_id, what moved it)``): like an operator's, it
    belongs to no position (a migration takes no time of the run's own)."""
    bulk = Bulk(conn)
    stamp = bulk.time(now)
    bulk.write(
        conn,
        INSERT_HISTORY,
        [
            HistoryRow(
                run_id=run_id,
                step_id=MIGRATION_STEP_ID,
                token="",
                step_type="migration",
                version_number=version,
                attempt=1,
                status="migrated",
                logical_time=stamp,
                recorded_at=stamp,
                started_at=stamp,
                input=json_param(detail),
                output=None,
                error=None,
                detail=None,
            )
            for run_id, detail in moved
        ],
    )
