"""Creating runs: manual starts, child runs, trigger starts and schedule slots.

Every run is pinned to one published version at creation. Re-entry rules and idempotency keys
are enforced by UNIQUE constraints (see ``store.tables.runs``); a duplicate start is detected by
the database, inside a savepoint, never by a read-then-write.

A workflow's ``settings.concurrencyKey`` is computed here, once, from the start payload and
stored on the run with its place in the key's queue (``concurrency_seq``: increasing in start
order); ``store.claims`` lets one run of a key execute at a time, in that order.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonschema
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.definitions.models import Definition
from flowpin.errors import ExpressionError, FlowpinError, LimitError
from flowpin.expressions.values import resolve
from flowpin.observability import metrics, tracing
from flowpin.runtime.interpreter import start_state
from flowpin.runtime.positions import encode as encode_positions
from flowpin.store import history
from flowpin.store import tables as t
from flowpin.store.codec import dumps
from flowpin.store.dialects import dialect_of
from flowpin.store.notify import signal_work
from flowpin.store.statements import (
    DriverInsert,
    DriverRead,
    DriverStatement,
    list_param,
    listed,
)
from flowpin.store.waits import notify_parent
from flowpin.types import TERMINAL_STATUSES

ENDED = tuple(sorted(TERMINAL_STATUSES))
"""The terminal statuses, in a fixed order (a statement's text stays the same)."""


class PayloadInvalid(FlowpinError):
    """The run input does not match the workflow's payloadSchema."""

    code = "run.invalid_payload"


@dataclass(frozen=True, slots=True)
class NewRun:
    tenant_id: str
    workflow_id: int
    workflow_key: str
    version_id: int
    version_number: int
    definition: Definition
    """The version's definition (the run's start state and concurrency key come from it)."""
    payload: Any
    subject: str | None = None
    run_id: str | None = None
    idempotency_key: str | None = None
    parent_run_id: str | None = None
    parent_token: str | None = None
    reentry_never_key: str | None = None
    active_subject_key: str | None = None
    trigger: str | None = None
    meta: dict[str, Any] | None = None
    """The run's ``meta`` at start (a schedule's slot: ``scheduledFor``); None: empty."""
    depth: int = 0
    """How many ``control.callWorkflow`` calls led to this run (0: started by a person or a
    trigger); kept in the run's state as ``d``."""
    failure: dict[str, Any] | None = None
    """Create the run FAILED with this error instead of runnable (a limit refused it)."""
    traced: bool = False
    """``traceparent`` was taken where the start was asked for (a group commit inserts it on
    another caller's thread, inside that caller's span); False: take the current one."""
    traceparent: str | None = None


MAX_INPUT_BYTES = 512 * 1024
"""Default bound on a run's input as JSON (SPEC §8 limits)."""


def check_input_size(payload: Any, limit: int = MAX_INPUT_BYTES) -> None:
    size = len(dumps(payload))
    if size > limit:
        raise LimitError(
            f"run input is {size} bytes as JSON; the limit is {limit}",
            code="limit.input_size",
            details={"size": size, "limit": limit},
        )


def check_payload(
    definition: Definition, payload: Any, schemas: Any, now: datetime | None = None
) -> None:
    """The payload can start a run: its size, the workflow's payloadSchema, and a concurrency
    key computable from it (raised here, where callers report a bad payload, rather than at
    the insert)."""
    check_input_size(payload)
    _check_schema(definition, payload, schemas)
    concurrency_key(definition, payload, now)


def _check_schema(definition: Definition, payload: Any, schemas: Any) -> None:
    schema = definition.payload_schema
    if not schema:
        return
    ref = schema.get("$ref") if len(schema) == 1 else None
    if isinstance(ref, str) and ref.startswith("schema:"):
        resolved = schemas.schema(ref.removeprefix("schema:")) if schemas else None
        if resolved is None:
            raise PayloadInvalid(f"unknown schema ref {ref!r}", details={"ref": ref})
        schema = resolved
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        raise PayloadInvalid(
            f"payload does not match the workflow's payloadSchema: {errors[0].message}",
            details=[
                {"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message}
                for e in errors[:20]
            ],
        )


MAX_KEY_CHARS = 128
"""A longer concurrency key is stored as ``sha256:<hex>`` of it: the same key, bounded."""


def concurrency_key(definition: Definition, payload: Any, now: datetime) -> str | None:
    """The run's concurrency key from ``settings.concurrencyKey`` and the start payload
    (``{"payload": …}`` is all the expression sees); None when the workflow has none or the
    expression gives null. A string is the key; a number or boolean its JSON text. Raises
    ``PayloadInvalid`` when the expression fails or gives an object or array."""
    settings = definition.settings
    source = settings.concurrency_key if settings is not None else None
    if source is None:
        return None
    try:
        value = resolve(source, {"payload": payload}, now=now)
    except ExpressionError as exc:
        raise PayloadInvalid(
            f"the workflow's concurrencyKey cannot be computed from this payload: {exc.message}",
            details={"concurrencyKey": source},
        ) from None
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        value = json.dumps(value)
    if not isinstance(value, str):
        raise PayloadInvalid(
            "the workflow's concurrencyKey must give a string, a number or null for this "
            f"payload, not {'an object' if isinstance(value, dict) else 'an array'}",
            details={"concurrencyKey": source},
        )
    if len(value) > MAX_KEY_CHARS:
        value = "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return value


def _next_in_queue(conn: Connection, workflow_id: int, key: str) -> Any:
    """The run's place in its key's queue: a database sequence on PostgreSQL (concurrent
    starts never share a number); on SQLite, whose writers are serialized, one more than the
    key's last."""
    return dialect_of(conn).next_in_queue(
        t.RUNS_CONCURRENCY_SEQ,
        sa.select(sa.func.coalesce(sa.func.max(t.runs.c.concurrency_seq), 0) + 1)
        .where(
            t.runs.c.workflow_id == workflow_id,
            t.runs.c.concurrency_key == key,
            t.runs.c.concurrency_key.is_not(None),
        )
        .scalar_subquery(),
    )


def insert_runs(
    conn: Connection, new_runs: Sequence[NewRun], now: datetime
) -> list[dict[str, Any] | None]:
    """Insert runs, each PENDING and immediately runnable (or FAILED, see ``NewRun.failure``):
    for each, the row's values as written (a view is built from them without reading the run
    back), or None when a UNIQUE constraint (idempotency key, re-entry rule, a child id already
    created) says it exists: ``INSERT … ON CONFLICT DO NOTHING``, so one duplicate leaves the
    others written without a savepoint. The one place a run is created."""
    written = [_insert_one(conn, new, now) for new in new_runs]
    if any(values is not None and values["status"] == "PENDING" for values in written):
        signal_work(conn)
    return written


def _insert_one(conn: Connection, new: NewRun, now: datetime) -> dict[str, Any] | None:
    definition = new.definition
    run_id = new.run_id or str(uuid.uuid4())
    state = start_state(definition, new.payload, new.meta)
    if new.depth:
        state["d"] = new.depth
    traceparent = new.traceparent if new.traced else tracing.current_traceparent()
    if traceparent is not None:
        state["tp"] = traceparent  # the worker's spans continue the trace that started the run
    if new.failure is not None:
        state.update(status="FAILED", root=None)
        state["envelope"] = {**state["envelope"], "error": new.failure}
        state.pop("pending", None)
    key = concurrency_key(definition, new.payload, now) if new.failure is None else None
    values = {
        "id": run_id,
        "tenant_id": new.tenant_id,
        "workflow_id": new.workflow_id,
        "workflow_key": new.workflow_key,
        "version_id": new.version_id,
        "version_number": new.version_number,
        "subject": new.subject,
        "status": "PENDING" if new.failure is None else "FAILED",
        "payload": new.payload,
        "state": state,
        "error": new.failure,
        "positions": encode_positions(state),
        "parent_run_id": new.parent_run_id,
        "parent_token": new.parent_token,
        "idempotency_key": new.idempotency_key,
        "reentry_never_key": new.reentry_never_key,
        "active_subject_key": new.active_subject_key,
        "trigger": new.trigger,
        "created_at": now,
        "updated_at": now,
        "wake_at": now if new.failure is None else None,
        "finished_at": None if new.failure is None else now,
    }
    if key is None:
        written = _INSERT_RUN_ROW.rowcount(conn, values)
    else:
        values["concurrency_key"] = key
        insert = _insert_run(conn).values(
            concurrency_seq=_next_in_queue(conn, new.workflow_id, key)
        )
        written = conn.execute(insert, values).rowcount
    if written == 0:
        return None  # a uniqueness constraint says it exists
    metrics.RUNS_STARTED.labels(new.tenant_id, new.workflow_key).inc()
    if new.failure is not None:
        metrics.RUNS_FINISHED.labels(new.tenant_id, new.workflow_key, "FAILED").inc()
    return values


_INSERT_RUN: dict[str, Any] = {}
"""The run's insert per database, built once (its compiled form is then cached by key set)."""


def _insert_run(conn: Connection) -> Any:
    dialect = dialect_of(conn)
    statement = _INSERT_RUN.get(dialect.name)
    if statement is None:
        # An INSERT's rowcount is kept only when asked (SQLAlchemy's preserve_rowcount).
        statement = dialect.insert_or_skip(t.runs).execution_options(preserve_rowcount=True)
        _INSERT_RUN[dialect.name] = statement
    return statement


_INSERT_RUN_ROW = DriverInsert(lambda dialect: dialect.insert_or_skip(t.runs))
"""A run without a concurrency key (the common case): on SQLite through the driver."""


def existing_run_by_key(conn: Connection, workflow_id: int, idempotency_key: str) -> str | None:
    return conn.execute(
        sa.select(t.runs.c.id).where(
            t.runs.c.workflow_id == workflow_id, t.runs.c.idempotency_key == idempotency_key
        )
    ).scalar()


@dataclass(frozen=True, slots=True)
class ClosedRun:
    """A run that reached a terminal status, and what a parent waiting for it receives."""

    run_id: str
    status: str
    output: Any
    error: Any
    has_parent: bool = True
    """False when the run has no parent (no parent's wait to look for)."""


# The closing of a finished run, built once per dialect (``statements.built_once``): every run
# that ends runs them.
_CANCEL_WAITS_OF = DriverStatement(
    lambda dialect: (
        t.waits.update()
        .where(listed(dialect, t.waits.c.run_id, "ids"), t.waits.c.status == "open")
        .values(
            status="canceled", resolved_at=sa.bindparam("now", type_=t.waits.c.resolved_at.type)
        )
    )
)
_CANCEL_TASKS_OF = DriverStatement(
    lambda dialect: (
        t.human_tasks.update()
        .where(listed(dialect, t.human_tasks.c.run_id, "ids"), t.human_tasks.c.status == "open")
        .values(
            status="canceled",
            completed_at=sa.bindparam("now", type_=t.human_tasks.c.completed_at.type),
        )
    )
)
_DROP_INBOX_OF = DriverStatement(
    lambda dialect: t.run_inbox.delete().where(listed(dialect, t.run_inbox.c.run_id, "ids"))
)


def close_runs(conn: Connection, closed: Sequence[ClosedRun], now: datetime) -> None:
    """Terminal runs: close their waits and tasks, drop their inbox, tell waiting parents."""
    ids = [run.run_id for run in closed]
    if not ids:
        return
    listed_ids = list_param(conn, ids)
    _CANCEL_WAITS_OF.rowcount(conn, {"ids": listed_ids, "now": now})
    _CANCEL_TASKS_OF.rowcount(conn, {"ids": listed_ids, "now": now})
    _DROP_INBOX_OF.rowcount(conn, {"ids": listed_ids})
    for run in closed:
        if run.has_parent:
            notify_parent(conn, run.run_id, run.status, run.output, run.error, now)


def restart_run(
    conn: Connection, run_id: str, was: str, state: Any, payload: Any, now: datetime
) -> None:
    """Run a finished run again from ``state`` (an operator's retry), if it is still ``was``."""
    conn.execute(
        t.runs.update()
        .where(t.runs.c.id == run_id, t.runs.c.status == was)
        .values(
            state=state,
            positions=encode_positions(state),
            status="RUNNING",
            finished_at=None,
            error=None,
            output=None,
            wake_at=now,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
            payload=payload,
        )
    )


def cancel_tree(
    conn: Connection,
    run_id: str,
    now: datetime,
    *,
    by: str | None = None,
    parent: str | None = None,
    bulk: bool = False,
) -> None:
    """Cancel an active run and, depth first, its active children: each one's history says
    who canceled it (``by``; ``withParent`` for a child, ``bulk`` for a bulk action), and
    ``close_runs`` ends its waits and tasks and tells its parent."""
    result = conn.execute(
        t.runs.update()
        .where(t.runs.c.id == run_id, t.runs.c.status.not_in(ENDED))
        .values(
            status="CANCELED",
            finished_at=now,
            wake_at=None,
            lease_owner=None,
            lease_expires_at=None,
            active_subject_key=None,
            updated_at=now,
            error={"category": "Canceled", "message": "canceled by an operator"},
        )
    )
    if result.rowcount != 1:
        return
    version = conn.execute(
        sa.select(t.runs.c.version_number).where(t.runs.c.id == run_id)
    ).scalar_one()
    extra: dict[str, Any] = {"withParent": parent} if parent else {"bulk": True} if bulk else {}
    history.record_operator(conn, run_id, version, "canceled", now, by=by, **extra)
    error = {"category": "Canceled", "message": "child run was canceled"}
    close_runs(conn, [ClosedRun(run_id, "CANCELED", None, error)], now)
    children = conn.execute(
        sa.select(t.runs.c.id).where(
            t.runs.c.parent_run_id == run_id, t.runs.c.status.not_in(ENDED)
        )
    ).scalars()
    for child in list(children):
        cancel_tree(conn, child, now, by=by, parent=run_id)


# The reads of ``GET /api/runs/{id}`` are built once: building a statement and its cache key
# cost more than SQLite's part of the read (measured).
# On SQLite it runs on the driver's cursor (``DriverRead``).
_RUN = DriverRead(
    sa.select(t.runs).where(
        t.runs.c.id == sa.bindparam("run_id"), t.runs.c.tenant_id == sa.bindparam("tenant_id")
    )
)


def run_of(conn: Connection, tenant_id: str, run_id: str) -> Any:
    """The tenant's run (every column, as attributes), or None."""
    return _RUN.first(conn, {"run_id": run_id, "tenant_id": tenant_id})


def run_progress(conn: Connection, tenant_id: str, run_id: str) -> Any:
    """The tenant's run's status and wake-up only, or None."""
    return conn.execute(
        sa.select(t.runs.c.status, t.runs.c.wake_at).where(
            t.runs.c.id == run_id, t.runs.c.tenant_id == tenant_id
        )
    ).first()


def run_states(conn: Connection, tenant_id: str, run_ids: Sequence[str]) -> list[Any]:
    """``(id, version_id, state)`` of the tenant's runs among ``run_ids``."""
    return list(
        conn.execute(
            sa.select(t.runs.c.id, t.runs.c.version_id, t.runs.c.state).where(
                t.runs.c.tenant_id == tenant_id, t.runs.c.id.in_(list(run_ids))
            )
        ).all()
    )
