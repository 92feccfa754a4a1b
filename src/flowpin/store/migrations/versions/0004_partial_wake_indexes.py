"""partial indexes for due runs and leased runs

Parked runs (``wake_at`` NULL) are the bulk of a large database; the claim, the next-wake-up
query and the concurrency count only ever look at runs that are due or leased. Partial indexes
keep those lookups (and the planner's estimates) proportional to the runs in flight, not to
every parked run: with a million parked runs the full ``ix_runs_wake`` held a million NULLs, and
the estimate of the leased-runs count made PostgreSQL JIT-compile the next-wake-up query
(~0.5 s per call).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DUE = sa.text("wake_at IS NOT NULL")
LEASED = sa.text("lease_owner IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_wake")
        batch_op.create_index("ix_runs_due", ["wake_at"], postgresql_where=DUE, sqlite_where=DUE)
        batch_op.create_index(
            "ix_runs_leased", ["workflow_id"], postgresql_where=LEASED, sqlite_where=LEASED
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_leased")
        batch_op.drop_index("ix_runs_due")
        batch_op.create_index("ix_runs_wake", ["wake_at"], unique=False)
