"""Manual starts written together: concurrent ``Engine.start`` calls share one transaction
(``batching.GroupCommitter``, as events do) and ``Engine.start_many`` writes a list in one.

Each item keeps its own checks and its own answer: a refused item (unknown workflow, a payload
its schema rejects) fails alone and the others are written. A new run's view is built from
what was written, not read back; the workflow and version rows are read once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from flowpin.definitions.models import Definition
from flowpin.engine import inputs, views
from flowpin.errors import ConflictError, FlowpinError
from flowpin.observability import tracing
from flowpin.store.database import Connection
from flowpin.store.runs import NewRun, check_payload, existing_run_by_key, insert_runs
from flowpin.store.workflows import start_target


@dataclass(frozen=True, slots=True)
class StartIn:
    """One manual start: what ``Engine.start`` takes."""

    workflow: str
    payload: Any = None
    subject: str | None = None
    version: int | None = None
    idempotency_key: str | None = None
    traceparent: str | None = None
    """The trace of the request that asked (set by ``check_start``, on the caller's thread)."""


@dataclass(frozen=True, slots=True)
class Started:
    run_id: str
    created: bool
    """False: the idempotency key named a run that already existed (``view`` is None)."""
    view: dict[str, Any] | None = None
    version_id: int = 0
    definition: Definition | None = None
    state: dict[str, Any] | None = None


def check_start(item: StartIn) -> StartIn:
    """The same checks ``Engine.start`` makes before anything is written."""
    payload = {} if item.payload is None else inputs.check_value(item.payload, "payload")
    inputs.check_texts(workflow=item.workflow)
    inputs.check_text(item.subject, "subject", inputs.SUBJECT_MAX)
    inputs.check_text(item.idempotency_key, "idempotencyKey", inputs.IDEMPOTENCY_KEY_MAX)
    return replace(item, payload=payload, traceparent=tracing.current_traceparent())


def start_in(item: Any) -> StartIn:
    """A ``StartIn`` from a dict with ``Engine.start``'s names (``start_many``)."""
    if isinstance(item, StartIn):
        return item
    if not isinstance(item, dict) or not isinstance(item.get("workflow"), str):
        raise inputs.InputError(
            "a start needs a workflow key (a string)", details={"field": "workflow"}
        )
    return StartIn(
        item["workflow"],
        item.get("payload"),
        item.get("subject"),
        item.get("version"),
        item.get("idempotency_key"),
    )


def write_starts(
    conn: Connection,
    tenant_id: str,
    items: Sequence[StartIn],
    now: datetime,
    definition_in: Callable[[Connection, int], Definition],
    schemas: Any,
) -> list[Started | FlowpinError]:
    """Insert each item's run in this transaction; a refused item gets its error."""
    found: dict[tuple[str, int | None], Any] = {}
    outcomes: list[Started | FlowpinError] = []
    for item in items:
        try:
            outcomes.append(_start_one(conn, tenant_id, item, now, definition_in, schemas, found))
        except FlowpinError as exc:
            outcomes.append(exc)
    return outcomes


def _start_one(
    conn: Connection,
    tenant_id: str,
    item: StartIn,
    now: datetime,
    definition_in: Callable[[Connection, int], Definition],
    schemas: Any,
    found: dict[tuple[str, int | None], Any],
) -> Started:
    target = found.get((item.workflow, item.version))
    if target is None:
        target = start_target(conn, tenant_id, item.workflow, item.version)
        found[(item.workflow, item.version)] = target
    if item.idempotency_key is not None:
        existing = existing_run_by_key(conn, target.id, item.idempotency_key)
        if existing:
            return Started(existing, created=False)
    definition = definition_in(conn, target.version_id)
    check_payload(definition, item.payload, schemas, now)
    new = NewRun(
        tenant_id=tenant_id,
        workflow_id=target.id,
        workflow_key=target.key,
        version_id=target.version_id,
        version_number=target.version_number,
        definition=definition,
        payload=item.payload,
        subject=item.subject,
        idempotency_key=item.idempotency_key,
        trigger="manual",
        traced=True,
        traceparent=item.traceparent,
    )
    [values] = insert_runs(conn, [new], now)
    if values is None:
        existing = (
            existing_run_by_key(conn, target.id, item.idempotency_key)
            if item.idempotency_key is not None
            else None
        )
        if existing is None:
            raise ConflictError("run could not be created", code="run.conflict")
        return Started(existing, created=False)
    return Started(
        str(values["id"]),
        created=True,
        view=views.written_view(values),
        version_id=target.version_id,
        definition=definition,
        state=values["state"],
    )
