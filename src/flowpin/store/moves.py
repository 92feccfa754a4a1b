"""Moving runs in flight to another version of their workflow: the rows ``engine.migrating``
reads and writes (the plan itself is ``runtime.migrate``'s).

A move is fenced like a worker's checkpoint: the run is updated only while its
``claim_count`` is the one read (and it is still active), and the move bumps the count, so a
worker that claimed the run before cannot write over it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.dialects import dialect_of
from flowpin.store.statements import among
from flowpin.types import ACTIVE_STATUSES


def runs_named(
    conn: Connection, tenant_id: str, workflow_id: int, run_ids: list[str]
) -> dict[str, Any]:
    """The workflow's runs among ``run_ids`` (id, status, version_number, subject), by id."""
    runs = t.runs
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.status, runs.c.version_number, runs.c.subject).where(
            runs.c.tenant_id == tenant_id,
            runs.c.workflow_id == workflow_id,
            among(conn, runs.c.id, run_ids),
        )
    ).all()
    return {row.id: row for row in rows}


def active_run_ids(
    conn: Connection,
    tenant_id: str,
    workflow_id: int,
    version: int,
    *,
    status: str | None = None,
    step: str | None = None,
    subject: str | None = None,
) -> list[str]:
    """Ids of the workflow's active runs on ``version`` (narrowed by the arguments given), in
    id order."""
    runs = t.runs
    query = sa.select(runs.c.id).where(
        runs.c.tenant_id == tenant_id,
        runs.c.workflow_id == workflow_id,
        runs.c.version_number == version,
        runs.c.status.in_(ACTIVE_STATUSES),
    )
    if status is not None:
        query = query.where(runs.c.status == status)
    if step is not None:
        query = query.where(runs.c.current_step == step)
    if subject is not None:
        query = query.where(runs.c.subject == subject)
    return list(conn.execute(query.order_by(runs.c.id)).scalars())


_COLUMNS = (
    t.runs.c.id,
    t.runs.c.status,
    t.runs.c.subject,
    t.runs.c.version_number,
    t.runs.c.current_step,
    t.runs.c.lease_owner,
    t.runs.c.lease_expires_at,
    t.runs.c.claim_count,
    t.runs.c.state,
)


def runs_to_move(conn: Connection, run_ids: list[str], *, lock: bool) -> dict[str, Any]:
    """The runs (what a move checks and plans with), by id; ``lock``: held until the
    transaction ends."""
    query = sa.select(*_COLUMNS).where(among(conn, t.runs.c.id, run_ids))
    if lock:
        query = dialect_of(conn).locked(query)
    return {row.id: row for row in conn.execute(query)}


def calls_in_flight(conn: Connection, run_ids: list[str]) -> set[str]:
    """Those of the runs with an action call started and not settled."""
    ledger = t.action_ledger
    return set(
        conn.execute(
            sa.select(ledger.c.run_id).where(
                among(conn, ledger.c.run_id, run_ids), ledger.c.status == "started"
            )
        ).scalars()
    )


class RunMove(NamedTuple):
    """One run's move: its new state and where it stands, if its claims are still ``seen``."""

    run_id: str
    seen_claims: int
    state: Any
    current_step: str | None
    positions: str
    wakes: bool


def move_runs(
    conn: Connection, moves: list[RunMove], version_id: int, version: int, now: datetime
) -> None:
    """Put the runs on the version (fenced by their claim count, see the module)."""
    runs = t.runs
    update = (
        runs.update()
        .where(
            runs.c.id == sa.bindparam("run_id"),
            runs.c.claim_count == sa.bindparam("seen_claims"),
            runs.c.finished_at.is_(None),  # active (the table's CHECK ties the two)
        )
        .values(
            version_id=version_id,
            version_number=version,
            state=sa.bindparam("new_state", type_=runs.c.state.type),
            current_step=sa.bindparam("new_step"),
            positions=sa.bindparam("new_positions"),
            updated_at=now,
            claim_count=runs.c.claim_count + 1,
            lease_owner=None,
            lease_expires_at=None,
            wake_at=sa.case(
                (sa.bindparam("wakes", type_=sa.Boolean), sa.literal(now, runs.c.wake_at.type)),
                else_=runs.c.wake_at,
            ),
        )
    )
    conn.execute(
        update,
        [
            {
                "run_id": move.run_id,
                "seen_claims": move.seen_claims,
                "new_state": move.state,
                "new_step": move.current_step,
                "new_positions": move.positions,
                "wakes": move.wakes,
            }
            for move in moves
        ],
    )


def rename_positions(conn: Connection, renamed: list[dict[str, Any]]) -> None:
    """A position kept under a new token (``{"run", "old", "new", "step"}``): its open wait and
    task, and its inbox rows, follow it."""
    run_id, old = sa.bindparam("run"), sa.bindparam("old")
    new, step = sa.bindparam("new"), sa.bindparam("step")
    conn.execute(
        t.waits.update()
        .where(t.waits.c.run_id == run_id, t.waits.c.token == old, t.waits.c.status == "open")
        .values(token=new, step_id=step),
        renamed,
    )
    conn.execute(
        t.human_tasks.update()
        .where(
            t.human_tasks.c.run_id == run_id,
            t.human_tasks.c.token == old,
            t.human_tasks.c.status == "open",
        )
        .values(token=new, step_id=step),
        renamed,
    )
    conn.execute(
        t.run_inbox.update()
        .where(t.run_inbox.c.run_id == run_id, t.run_inbox.c.token == old)
        .values(token=new),
        [{key: item[key] for key in ("run", "old", "new")} for item in renamed],
    )


def close_positions(conn: Connection, closed: list[dict[str, Any]], now: datetime) -> None:
    """A position that restarts at its target (``{"run", "old"}``): its wait and task are
    closed, its inputs dropped (the step runs anew)."""
    run_id, old = sa.bindparam("run"), sa.bindparam("old")
    conn.execute(
        t.waits.update()
        .where(t.waits.c.run_id == run_id, t.waits.c.token == old, t.waits.c.status == "open")
        .values(status="canceled", resolved_at=now),
        closed,
    )
    conn.execute(
        t.human_tasks.update()
        .where(
            t.human_tasks.c.run_id == run_id,
            t.human_tasks.c.token == old,
            t.human_tasks.c.status == "open",
        )
        .values(status="canceled", completed_at=now),
        closed,
    )
    conn.execute(
        t.run_inbox.delete().where(t.run_inbox.c.run_id == run_id, t.run_inbox.c.token == old),
        closed,
    )
