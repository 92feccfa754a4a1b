"""runs carry a concurrency key and their place in its queue

A workflow's ``settings.concurrencyKey`` is computed when a run starts and stored on it
(``concurrency_key``, NULL for every run of a workflow without one) with ``concurrency_seq``,
increasing in start order; the claim lets one run of a key execute at a time, the lowest
first. On PostgreSQL the numbers come from the sequence ``runs_concurrency_seq``. The partial
index holds only keyed runs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

KEYED = sa.text("concurrency_key IS NOT NULL")
COLUMNS = ["workflow_id", "concurrency_key", "concurrency_seq", "status"]


def upgrade() -> None:
    op.add_column("runs", sa.Column("concurrency_key", sa.String(128), nullable=True))
    op.add_column("runs", sa.Column("concurrency_seq", sa.BigInteger, nullable=True))
    op.create_index(
        "ix_runs_concurrency", "runs", COLUMNS, postgresql_where=KEYED, sqlite_where=KEYED
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.CreateSequence(sa.Sequence("runs_concurrency_seq")))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.schema.DropSequence(sa.Sequence("runs_concurrency_seq")))
    op.drop_index("ix_runs_concurrency", table_name="runs")
    op.drop_column("runs", "concurrency_seq")  # SQLite 3.35+ drops a column in place
    op.drop_column("runs", "concurrency_key")
