"""PostgreSQL: the runs' optional keys are unique through partial indexes

On PostgreSQL every update of a run that changes an indexed column (the lease, the wake-up, the
current step: nearly all of them) writes an entry into every index of the table, NULLs included.
Most runs have no idempotency key, no re-entry key and no parent, yet each of their updates paid
for four index entries holding NULL. Partial indexes (``WHERE … IS NOT NULL``) enforce the same
uniqueness and hold only the runs that have the key. SQLite is unchanged: it only touches the
indexes of the columns an UPDATE assigns, and its UNIQUE already ignores NULLs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UNIQUE_KEYS = {
    "uq_runs_active_subject_key": ["active_subject_key"],
    "uq_runs_reentry_never_key": ["reentry_never_key"],
    "uq_runs_workflow_id_idempotency_key": ["workflow_id", "idempotency_key"],
}


def _present(columns: list[str]) -> sa.TextClause:
    return sa.text(f"{columns[-1]} IS NOT NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in UNIQUE_KEYS.items():
        op.drop_constraint(name, "runs", type_="unique")
        op.create_index(name, "runs", columns, unique=True, postgresql_where=_present(columns))
    op.drop_index("ix_runs_by_parent", table_name="runs")
    op.create_index(
        "ix_runs_by_parent",
        "runs",
        ["parent_run_id"],
        postgresql_where=sa.text("parent_run_id IS NOT NULL"),
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_runs_by_parent", table_name="runs")
    op.create_index("ix_runs_by_parent", "runs", ["parent_run_id"])
    for name, columns in UNIQUE_KEYS.items():
        op.drop_index(name, table_name="runs")
        op.create_unique_constraint(name, "runs", columns)
