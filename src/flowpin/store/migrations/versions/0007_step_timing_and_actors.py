"""what the run viewer shows of each step: when it began, what resolved it, who completed a task

``step_history.started_at``: when the attempt began (an action's call, a wait's parking), so a
step's duration is ``logical_time - started_at``. ``step_history.detail``: what resolved a
wait (the event's id, who completed the task, an operator's resume). ``human_tasks.completed_by``:
the API key (its name, else its id) or Python caller that completed the task. All nullable:
rows written before this revision simply lack them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    started_at = sa.Column("started_at", sa.DateTime(timezone=True), nullable=True)
    op.add_column("step_history", started_at)
    op.add_column("step_history", sa.Column("detail", JSONDoc, nullable=True))
    op.add_column("human_tasks", sa.Column("completed_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("human_tasks") as batch_op:
        batch_op.drop_column("completed_by")
    with op.batch_alter_table("step_history") as batch_op:
        batch_op.drop_column("detail")
        batch_op.drop_column("started_at")
