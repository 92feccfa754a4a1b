"""runs.positions: where each run stands, kept with its state, for per-step counts

A run's distinct ``(step id, kind)`` leaves as JSON text, written by the same statement as its
state (see ``flowpin.runtime.positions``). Counting runs per step and wait kind then groups rows
by this short column instead of reading every state or any history. Existing runs that can
still be counted (not SUCCEEDED or CANCELED) are filled in from their state.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    from flowpin.runtime.positions import encode
    from flowpin.store.codec import loads

    op.add_column("runs", sa.Column("positions", sa.Text, nullable=True))
    bind = op.get_bind()
    runs = sa.table(
        "runs",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("state", sa.Text),
        sa.column("positions", sa.Text),
    )
    last = ""
    while True:
        rows = bind.execute(
            sa.select(runs.c.id, sa.cast(runs.c.state, sa.Text))
            .where(runs.c.status.not_in(("SUCCEEDED", "CANCELED")), runs.c.id > last)
            .order_by(runs.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            runs.update().where(runs.c.id == sa.bindparam("run_id")),
            [{"run_id": run_id, "positions": encode(loads(state))} for run_id, state in rows],
        )
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("positions")
