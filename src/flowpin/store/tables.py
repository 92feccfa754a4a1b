"""Every table flowpin keeps, in SQLAlchemy Core, for SQLite and PostgreSQL alike.

Each table says its invariants; the database enforces what it can (UNIQUE, partial UNIQUE,
CHECK), because a read-then-write in code is a race the database would win. Documents (state,
definitions, payloads) are JSON (JSONB on PostgreSQL). Times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from flowpin.store.dialects import NAIVE_TIMES
from flowpin.types import RunStatus

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSONDoc = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite has no time zone of its own; values are
    stored as naive UTC there and made aware again on the way out)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name in NAIVE_TIMES else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _now_column(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


RUN_STATUSES = tuple(status.value for status in RunStatus)
_status_list = ", ".join(f"'{status}'" for status in RUN_STATUSES)
_terminal_list = ", ".join(f"'{status.value}'" for status in RunStatus if status.terminal)

# Invariants: one row per tenant; rows of every other table belong to exactly one tenant.
tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    _now_column("created_at"),
)

# Invariants: (tenant, key) unique; the draft is free-form JSON (it may be invalid while edited);
# draft_revision grows by one per save so concurrent edits are detected (compare-and-set).
workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("draft", JSONDoc, nullable=True),
    sa.Column("draft_revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("layout", JSONDoc, nullable=True),
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("concurrency_limit", sa.Integer, nullable=True),
    _now_column("created_at"),
    _now_column("updated_at"),
    sa.UniqueConstraint("tenant_id", "key"),
)

# Invariants: immutable once inserted; number is 1, 2, 3… per workflow; hash (sha256 of the
# canonical JSON) unique per workflow, so publishing identical content finds the existing row.
workflow_versions = sa.Table(
    "workflow_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("workflow_id", sa.Integer, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("definition", JSONDoc, nullable=False),
    _now_column("published_at"),
    sa.UniqueConstraint("workflow_id", "number"),
    sa.UniqueConstraint("workflow_id", "hash"),
)

# Invariants: the event triggers of each workflow's latest version only; rewritten on publish.
event_triggers = sa.Table(
    "event_triggers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("workflow_id", sa.Integer, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("workflow_versions.id"), nullable=False),
    sa.Column("trigger_index", sa.Integer, nullable=False),
    sa.Column("event_name", sa.String(200), nullable=False),
    sa.Index("ix_event_triggers_lookup", "tenant_id", "event_name"),
    sa.UniqueConstraint("workflow_id", "trigger_index"),
)

# Invariants: the schedule triggers of each workflow's latest version; next_fire_at is the next
# slot not yet fired. A slot fires at most once: the run it starts carries the idempotency key
# "schedule:<trigger_index>:<slot>", unique per workflow in `runs`.
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("workflow_id", sa.Integer, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("workflow_versions.id"), nullable=False),
    sa.Column("trigger_index", sa.Integer, nullable=False),
    sa.Column("cron", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("payload", JSONDoc, nullable=True),
    _now_column("next_fire_at"),
    sa.UniqueConstraint("workflow_id", "trigger_index"),
    sa.Index("ix_schedules_next_fire_at", "next_fire_at"),
)

# Invariants:
# - status terminal (SUCCEEDED/FAILED/CANCELED) ⇔ finished_at set (CHECK below);
# - wake_at NULL means "nothing to do until a wait resolves"; a non-NULL wake_at <= now with no
#   live lease makes the run claimable; terminal runs have wake_at NULL (CHECK);
# - lease_owner/lease_expires_at set together; claim_count grows on every claim and fences
#   writes of a worker that lost its lease (its checkpoint UPDATE matches no row);
# - idempotency_key unique per workflow (manual starts, schedule slots);
# - reentry_never_key (permanent) and active_subject_key (cleared on reaching a terminal status)
#   enforce the trigger re-entry rules `never` and `notWhileActive` by UNIQUE, not by a read;
# - positions = flowpin.runtime.positions.encode(state) for every run that is not SUCCEEDED or
#   CANCELED (written with the state, in the same statement).
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("workflow_id", sa.Integer, sa.ForeignKey("workflows.id"), nullable=False),
    sa.Column("workflow_key", sa.String(64), nullable=False),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("workflow_versions.id"), nullable=False),
    sa.Column("version_number", sa.Integer, nullable=False),
    sa.Column("subject", sa.String(500), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("current_step", sa.String(128), nullable=True),
    sa.Column("parent_run_id", sa.String(36), nullable=True),
    sa.Column("parent_token", sa.String(500), nullable=True),
    sa.Column("idempotency_key", sa.String(500), nullable=True),
    sa.Column("reentry_never_key", sa.String(700), nullable=True),
    sa.Column("active_subject_key", sa.String(700), nullable=True),
    sa.Column("trigger", sa.String(200), nullable=True),
    _now_column("created_at"),
    _now_column("updated_at"),
    _now_column("finished_at", nullable=True),
    _now_column("wake_at", nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    _now_column("lease_expires_at", nullable=True),
    sa.Column("claim_count", sa.Integer, nullable=False, server_default="0"),
    # Where the run stands: JSON text of its distinct (step id, kind) leaves
    # (flowpin.runtime.positions), written by the statement that writes `state`, so per-step
    # counts group runs by it instead of reading states or history. NULL only for runs that
    # are finished (SUCCEEDED or CANCELED) since before migration 0006.
    sa.Column("positions", sa.Text, nullable=True),
    # Documents last: SQLite reads a row's columns in order, and a column stored after a large
    # JSON value costs a walk over its overflow pages on every claim and fence check.
    sa.Column("payload", JSONDoc, nullable=True),
    sa.Column("state", JSONDoc, nullable=False),
    sa.Column("output", JSONDoc, nullable=True),
    sa.Column("error", JSONDoc, nullable=True),
    # Added by migration 0008, after the documents on SQLite: a NULL there costs a claim no
    # read (its type in the record header says so), and only keyed runs have a value.
    sa.Column("concurrency_key", sa.String(128), nullable=True),
    sa.Column("concurrency_seq", sa.BigInteger, nullable=True),
    sa.CheckConstraint(f"status IN ({_status_list})", name="status_known"),
    sa.CheckConstraint(
        f"(status IN ({_terminal_list})) = (finished_at IS NOT NULL)",
        name="terminal_iff_finished",
    ),
    sa.CheckConstraint(
        f"status NOT IN ({_terminal_list}) OR wake_at IS NULL",
        name="terminal_never_wakes",
    ),
    # Unique where present (migration 0005: partial on PostgreSQL, where an index entry per NULL
    # would be rewritten by every update of the run; SQLite keeps plain UNIQUE constraints).
    sa.Index(
        "uq_runs_workflow_id_idempotency_key",
        "workflow_id",
        "idempotency_key",
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    ),
    sa.Index(
        "uq_runs_reentry_never_key",
        "reentry_never_key",
        unique=True,
        postgresql_where=sa.text("reentry_never_key IS NOT NULL"),
    ),
    sa.Index(
        "uq_runs_active_subject_key",
        "active_subject_key",
        unique=True,
        postgresql_where=sa.text("active_subject_key IS NOT NULL"),
    ),
    # Partial (migration 0004): parked runs, the bulk of a large database, are in neither.
    sa.Index(
        "ix_runs_due",
        "wake_at",
        postgresql_where=sa.text("wake_at IS NOT NULL"),
        sqlite_where=sa.text("wake_at IS NOT NULL"),
    ),
    sa.Index(
        "ix_runs_leased",
        "workflow_id",
        postgresql_where=sa.text("lease_owner IS NOT NULL"),
        sqlite_where=sa.text("lease_owner IS NOT NULL"),
    ),
    sa.Index("ix_runs_by_step", "tenant_id", "workflow_id", "status", "current_step"),
    sa.Index("ix_runs_by_subject", "tenant_id", "subject"),
    sa.Index(
        "ix_runs_by_parent", "parent_run_id", postgresql_where=sa.text("parent_run_id IS NOT NULL")
    ),
    sa.Index("ix_runs_created", "tenant_id", "created_at"),
    # A key's queue, in start order, with each run's status: whether a run is the next of its
    # key is answered from this index alone.
    sa.Index(
        "ix_runs_concurrency",
        "workflow_id",
        "concurrency_key",
        "concurrency_seq",
        "status",
        postgresql_where=sa.text("concurrency_key IS NOT NULL"),
        sqlite_where=sa.text("concurrency_key IS NOT NULL"),
    ),
)

RUNS_CONCURRENCY_SEQ = "runs_concurrency_seq"
"""PostgreSQL: the sequence behind ``runs.concurrency_seq`` (migration 0008); SQLite, whose
writers are serialized, numbers each key's runs itself (``store.runs``)."""
sa.Sequence(RUNS_CONCURRENCY_SEQ, metadata=metadata)

# Invariants: inputs that arrived for a run (a resolved wait, a finished child) and that its
# next checkpoint has not consumed yet; the checkpoint deletes the rows it consumed.
run_inbox = sa.Table(
    "run_inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("token", sa.String(500), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("body", JSONDoc, nullable=True),
    _now_column("at"),
    sa.Index("ix_run_inbox_run", "run_id"),
)

# Invariants: status moves open → resolved | canceled exactly once; an event, a timeout, a task
# completion and a cancel all compete with `UPDATE … WHERE status = 'open'`, so one wins.
waits = sa.Table(
    "waits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("token", sa.String(500), nullable=False),
    sa.Column("step_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # event | timer | task | child
    sa.Column("event_name", sa.String(200), nullable=True),
    sa.Column("correlation_key", sa.String(500), nullable=True),
    sa.Column("filter", sa.Text, nullable=True),
    sa.Column("filter_envelope", JSONDoc, nullable=True),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("ref_id", sa.String(64), nullable=True),  # task id or child run id
    _now_column("due_at", nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    _now_column("created_at"),
    _now_column("resolved_at", nullable=True),
    sa.CheckConstraint("status IN ('open', 'resolved', 'canceled')", name="status_known"),
    sa.Index("ix_waits_event", "tenant_id", "event_name", "correlation_key", "status"),
    sa.Index("ix_waits_due", "status", "due_at"),
    sa.Index("ix_waits_run", "run_id", "status"),
    sa.Index("ix_waits_ref", "ref_id"),
)

# Invariants: (tenant, event_id) unique, so a resubmitted event is recognised; `result` records
# which runs it resumed and started, returned again to a duplicate submission. expires_at is set
# only for events buffered with ttlMs.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(200), nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("key", sa.String(500), nullable=True),
    sa.Column("payload", JSONDoc, nullable=True),
    sa.Column("source_run_id", sa.String(36), nullable=True),
    _now_column("received_at"),
    _now_column("expires_at", nullable=True),
    sa.Column("result", JSONDoc, nullable=True),
    sa.Column("matched", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("tenant_id", "event_id"),
    sa.Index("ix_events_buffered", "tenant_id", "name", "key", "expires_at"),
    sa.Index("ix_events_received", "tenant_id", "received_at"),
)

# Invariants: a buffered event resumes a given run at most once.
event_consumptions = sa.Table(
    "event_consumptions",
    metadata,
    sa.Column("event_row_id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(36), primary_key=True),
)

# Invariants: (tenant, key) unique. status started → succeeded | failed; a started row whose
# lease expired belongs to a dead worker and may be reclaimed; succeeded is final and its output
# is returned without calling the handler again. `calls` counts handler invocations.
action_ledger = sa.Table(
    "action_ledger",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("token", sa.String(500), nullable=False),
    sa.Column("step_id", sa.String(128), nullable=False),
    sa.Column("action_id", sa.String(200), nullable=False),
    sa.Column("action_version", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("timeout_ms", sa.Integer, nullable=True),
    sa.Column("calls", sa.Integer, nullable=False, server_default="0"),
    _now_column("lease_expires_at", nullable=True),
    _now_column("created_at"),
    _now_column("updated_at"),
    sa.Column("input", JSONDoc, nullable=True),
    sa.Column("output", JSONDoc, nullable=True),
    sa.Column("error", JSONDoc, nullable=True),
    sa.CheckConstraint("status IN ('started', 'succeeded', 'failed')", name="status_known"),
    sa.Index("ix_action_ledger_run", "run_id", "status"),
)

# Invariants: append-only; one row per step execution or attempt, in order of id.
step_history = sa.Table(
    "step_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("step_id", sa.String(128), nullable=False),
    sa.Column("token", sa.String(500), nullable=False),
    sa.Column("step_type", sa.String(64), nullable=False),
    sa.Column("version_number", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    _now_column("logical_time"),
    _now_column("recorded_at"),
    # When the attempt began (an action's call, a wait's parking); logical_time is when it
    # ended. NULL for steps that take no time (state.set, transform.assign, control flow).
    _now_column("started_at", nullable=True),
    sa.Column("input", JSONDoc, nullable=True),
    sa.Column("output", JSONDoc, nullable=True),
    sa.Column("error", JSONDoc, nullable=True),
    # What resolved a wait: {"eventId"}, {"taskId", "completedBy"}, {"resumedBy"}.
    sa.Column("detail", JSONDoc, nullable=True),
    sa.Index("ix_step_history_run", "run_id", "id"),
)

# Invariants: status open → completed | timed_out | canceled once (via the wait it backs).
human_tasks = sa.Table(
    "human_tasks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("token", sa.String(500), nullable=False),
    sa.Column("step_id", sa.String(128), nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("assignee", sa.String(200), nullable=True),
    sa.Column("form_schema", JSONDoc, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("data", JSONDoc, nullable=True),
    _now_column("due_at", nullable=True),
    _now_column("created_at"),
    _now_column("completed_at", nullable=True),
    # Who completed it: the API key's name (its id when it has none), or what a Python
    # caller passed to Engine.complete_task(by=…).
    sa.Column("completed_by", sa.String(200), nullable=True),
    sa.CheckConstraint(
        "status IN ('open', 'completed', 'timed_out', 'canceled')", name="status_known"
    ),
    sa.Index("ix_human_tasks_inbox", "tenant_id", "status", "assignee"),
    sa.Index("ix_human_tasks_run", "run_id"),
)

# Invariants: the API key itself is never stored, only sha256(key), unique; each key belongs to
# one tenant and has one role. A revoked key (revoked_at set) authenticates nothing.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=True),
    _now_column("created_at"),
    _now_column("revoked_at", nullable=True),
    sa.CheckConstraint("role IN ('viewer', 'editor', 'admin')", name="role_known"),
    sa.Index("ix_api_keys_tenant", "tenant_id"),
)

# Invariants: one row per (tenant, name); `ciphertext` is Fernet (FLOWPIN_SECRET_KEY), the value
# is never stored in clear and never returned by the API.
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("ciphertext", sa.Text, nullable=False),
    _now_column("created_at"),
    _now_column("updated_at"),
)
