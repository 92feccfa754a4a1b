"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:27:34.602670
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "action_ledger",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("token", sa.String(length=500), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("action_id", sa.String(length=200), nullable=False),
        sa.Column("action_version", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("timeout_ms", sa.Integer(), nullable=True),
        sa.Column("calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column(
            "output", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("error", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.CheckConstraint(
            "status IN ('started', 'succeeded', 'failed')",
            name=op.f("ck_action_ledger_status_known"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_action_ledger")),
    )
    with op.batch_alter_table("action_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_action_ledger_run", ["run_id", "status"], unique=False)

    op.create_table(
        "event_consumptions",
        sa.Column("event_row_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("event_row_id", "run_id", name=op.f("pk_event_consumptions")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("source_run_id", sa.String(length=36), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("matched", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("tenant_id", "event_id", name=op.f("uq_events_tenant_id_event_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_buffered", ["tenant_id", "name", "key", "expires_at"], unique=False
        )
        batch_op.create_index("ix_events_received", ["tenant_id", "received_at"], unique=False)

    op.create_table(
        "human_tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("token", sa.String(length=500), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column(
            "form_schema", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'completed', 'timed_out', 'canceled')",
            name=op.f("ck_human_tasks_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_human_tasks")),
    )
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_human_tasks_inbox", ["tenant_id", "status", "assignee"], unique=False
        )
        batch_op.create_index("ix_human_tasks_run", ["run_id"], unique=False)

    op.create_table(
        "run_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("token", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_inbox")),
    )
    with op.batch_alter_table("run_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_run_inbox_run", ["run_id"], unique=False)

    op.create_table(
        "step_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("token", sa.String(length=500), nullable=False),
        sa.Column("step_type", sa.String(length=64), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("logical_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column(
            "output", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("error", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_history")),
    )
    with op.batch_alter_table("step_history", schema=None) as batch_op:
        batch_op.create_index("ix_step_history_run", ["run_id", "id"], unique=False)

    op.create_table(
        "tenants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
    )
    op.create_table(
        "waits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("token", sa.String(length=500), nullable=False),
        sa.Column("step_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event_name", sa.String(length=200), nullable=True),
        sa.Column("correlation_key", sa.String(length=500), nullable=True),
        sa.Column("filter", sa.Text(), nullable=True),
        sa.Column(
            "filter_envelope",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True,
        ),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("ref_id", sa.String(length=64), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'resolved', 'canceled')", name=op.f("ck_waits_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waits")),
    )
    with op.batch_alter_table("waits", schema=None) as batch_op:
        batch_op.create_index("ix_waits_due", ["status", "due_at"], unique=False)
        batch_op.create_index(
            "ix_waits_event", ["tenant_id", "event_name", "correlation_key", "status"], unique=False
        )
        batch_op.create_index("ix_waits_ref", ["ref_id"], unique=False)
        batch_op.create_index("ix_waits_run", ["run_id", "status"], unique=False)

    op.create_table(
        "workflows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("draft", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("draft_revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "layout", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workflows_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_workflows_tenant_id_key")),
    )
    op.create_table(
        "workflow_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column(
            "definition", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_versions_workflow_id_workflows"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_versions")),
        sa.UniqueConstraint(
            "workflow_id", "hash", name=op.f("uq_workflow_versions_workflow_id_hash")
        ),
        sa.UniqueConstraint(
            "workflow_id", "number", name=op.f("uq_workflow_versions_workflow_id_number")
        ),
    )
    op.create_table(
        "event_triggers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("trigger_index", sa.Integer(), nullable=False),
        sa.Column("event_name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_event_triggers_version_id_workflow_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_event_triggers_workflow_id_workflows")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_triggers")),
        sa.UniqueConstraint(
            "workflow_id", "trigger_index", name=op.f("uq_event_triggers_workflow_id_trigger_index")
        ),
    )
    with op.batch_alter_table("event_triggers", schema=None) as batch_op:
        batch_op.create_index("ix_event_triggers_lookup", ["tenant_id", "event_name"], unique=False)

    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("workflow_key", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_step", sa.String(length=128), nullable=True),
        sa.Column("parent_run_id", sa.String(length=36), nullable=True),
        sa.Column("parent_token", sa.String(length=500), nullable=True),
        sa.Column("idempotency_key", sa.String(length=500), nullable=True),
        sa.Column("reentry_never_key", sa.String(length=700), nullable=True),
        sa.Column("active_subject_key", sa.String(length=700), nullable=True),
        sa.Column("trigger", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wake_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column(
            "state", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "output", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("error", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.CheckConstraint(
            "(status IN ('SUCCEEDED', 'FAILED', 'CANCELED')) = (finished_at IS NOT NULL)",
            name=op.f("ck_runs_terminal_iff_finished"),
        ),
        sa.CheckConstraint(
            "status IN ('PENDING', 'RUNNING', 'WAITING', 'SUCCEEDED', 'FAILED', 'CANCELED')",
            name=op.f("ck_runs_status_known"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELED') OR wake_at IS NULL",
            name=op.f("ck_runs_terminal_never_wakes"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_runs_version_id_workflow_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_runs_workflow_id_workflows")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("active_subject_key", name=op.f("uq_runs_active_subject_key")),
        sa.UniqueConstraint("reentry_never_key", name=op.f("uq_runs_reentry_never_key")),
        sa.UniqueConstraint(
            "workflow_id", "idempotency_key", name=op.f("uq_runs_workflow_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_by_parent", ["parent_run_id"], unique=False)
        batch_op.create_index(
            "ix_runs_by_step", ["tenant_id", "workflow_id", "status", "current_step"], unique=False
        )
        batch_op.create_index("ix_runs_by_subject", ["tenant_id", "subject"], unique=False)
        batch_op.create_index("ix_runs_created", ["tenant_id", "created_at"], unique=False)
        batch_op.create_index("ix_runs_wake", ["wake_at"], unique=False)

    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("trigger_index", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_versions.id"],
            name=op.f("fk_schedules_version_id_workflow_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name=op.f("fk_schedules_workflow_id_workflows")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
        sa.UniqueConstraint(
            "workflow_id", "trigger_index", name=op.f("uq_schedules_workflow_id_trigger_index")
        ),
    )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.create_index("ix_schedules_next_fire_at", ["next_fire_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_index("ix_schedules_next_fire_at")

    op.drop_table("schedules")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_wake")
        batch_op.drop_index("ix_runs_created")
        batch_op.drop_index("ix_runs_by_subject")
        batch_op.drop_index("ix_runs_by_step")
        batch_op.drop_index("ix_runs_by_parent")

    op.drop_table("runs")
    with op.batch_alter_table("event_triggers", schema=None) as batch_op:
        batch_op.drop_index("ix_event_triggers_lookup")

    op.drop_table("event_triggers")
    op.drop_table("workflow_versions")
    op.drop_table("workflows")
    with op.batch_alter_table("waits", schema=None) as batch_op:
        batch_op.drop_index("ix_waits_run")
        batch_op.drop_index("ix_waits_ref")
        batch_op.drop_index("ix_waits_event")
        batch_op.drop_index("ix_waits_due")

    op.drop_table("waits")
    op.drop_table("tenants")
    with op.batch_alter_table("step_history", schema=None) as batch_op:
        batch_op.drop_index("ix_step_history_run")

    op.drop_table("step_history")
    with op.batch_alter_table("run_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_run_inbox_run")

    op.drop_table("run_inbox")
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_human_tasks_run")
        batch_op.drop_index("ix_human_tasks_inbox")

    op.drop_table("human_tasks")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_received")
        batch_op.drop_index("ix_events_buffered")

    op.drop_table("events")
    op.drop_table("event_consumptions")
    with op.batch_alter_table("action_ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_action_ledger_run")

    op.drop_table("action_ledger")
