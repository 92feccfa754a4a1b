"""Creating runs: manual starts, child runs, trigger starts and schedule slots.

Every run is pinned to one published version at creation. Re-entry rules and idempotency keys
are enforced by UNIQUE constraints (see ``store.tables.runs``); a duplicate start is detected by
the database, inside a savepoint, never by a read-then-write.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonschema
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from flowpin.definitions.models import Definition
from flowpin.errors import FlowpinError, LimitError
from flowpin.runtime.interpreter import start_state
from flowpin.runtime.positions import encode as encode_positions
from flowpin.store import tables as t
from flowpin.store.bulk import dumps
from flowpin.store.notify import signal_work


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
    payload: Any
    subject: str | None = None
    run_id: str | None = None
    idempotency_key: str | None = None
    parent_run_id: str | None = None
    parent_token: str | None = None
    reentry_never_key: str | None = None
    active_subject_key: str | None = None
    trigger: str | None = None
    depth: int = 0
    """How many ``control.callWorkflow`` calls led to this run (0: started by a person or a
    trigger); kept in the run's state as ``d``."""
    failure: dict[str, Any] | None = None
    """Create the run FAILED with this error instead of runnable (a limit refused it)."""


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


def check_payload(definition: Definition, payload: Any, schemas: Any) -> None:
    check_input_size(payload)
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


def insert_run(conn: Connection, new: NewRun, definition: Definition, now: datetime) -> str | None:
    """Insert a PENDING, immediately runnable run; returns its id, or None when a UNIQUE
    constraint (idempotency key, re-entry rule, a child id already created) says it exists."""
    run_id = new.run_id or str(uuid.uuid4())
    state = start_state(definition, new.payload)
    if new.depth:
        state["d"] = new.depth
    if new.failure is not None:
        state.update(status="FAILED", root=None)
        state["envelope"] = {**state["envelope"], "error": new.failure}
        state.pop("pending", None)
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
    try:
        with conn.begin_nested():
            conn.execute(t.runs.insert().values(**values))
    except IntegrityError:
        return None
    if new.failure is None:
        signal_work(conn)
    return run_id


def existing_run_by_key(conn: Connection, workflow_id: int, idempotency_key: str) -> str | None:
    return conn.execute(
        sa.select(t.runs.c.id).where(
            t.runs.c.workflow_id == workflow_id, t.runs.c.idempotency_key == idempotency_key
        )
    ).scalar()
