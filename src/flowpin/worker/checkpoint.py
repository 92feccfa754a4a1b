"""Writing interpreter outcomes: one transaction for a whole batch of runs (group commit).

For each run the checkpoint writes, atomically: the state (fenced by the claim, so a worker
that lost its lease writes nothing), the history rows the outcome completes, the ledger results
of the calls it consumed and the ledger claims of the calls it issues, waits, tasks, child runs,
emitted events, and — on a terminal status — the parent's wake-up. Batching many runs into one
commit is what makes durable steps cheap: the commit, not the SQL, is the physical limit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.definitions.models import Definition
from flowpin.engine.signals import add_inbox, claim_wait, match_buffered_event, wake_runs
from flowpin.engine.starting import NewRun, insert_run
from flowpin.engine.triggers import submit_event
from flowpin.runtime.decisions import (
    ActionResult,
    CallAction,
    CancelWait,
    CreateTask,
    EmitEvent,
    HistoryEntry,
    Outcome,
    StartChild,
    WaitForEvent,
    WaitUntil,
)
from flowpin.store import tables as t

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED")


@dataclass(slots=True)
class ClaimedRun:
    """What a worker holds for a run it claimed."""

    id: str
    tenant_id: str
    workflow_id: int
    workflow_key: str
    version_id: int
    version_number: int
    subject: str | None
    created_at: datetime
    parent_run_id: str | None
    parent_token: str | None
    state: dict[str, Any]
    claim_count: int


@dataclass(slots=True)
class CheckpointRequest:
    run: ClaimedRun
    outcome: Outcome
    consumed_inbox: list[int] = field(default_factory=list)
    completed_calls: list[tuple[CallAction, ActionResult]] = field(default_factory=list)
    new_calls: list[CallAction] = field(default_factory=list)


@dataclass(slots=True)
class CheckpointResult:
    lost: bool = False
    """The claim was lost (lease expired and taken, or the run was canceled): stop driving."""
    execute: list[CallAction] = field(default_factory=list)
    """Calls whose ledger entry this checkpoint claimed: call the handler."""
    ledger_hits: list[ActionResult] = field(default_factory=list)
    """Calls answered from the ledger without calling the handler."""
    busy: list[CallAction] = field(default_factory=list)
    """Calls whose key another live run holds: claim them again shortly."""
    inbox: list[Any] = field(default_factory=list)
    """Inputs that arrived for the run and were not consumed yet."""
    released: bool = False


class Services:
    """What a checkpoint needs beyond the connection; provided by the engine."""

    lease_owner: str
    lease_seconds: float
    schemas: Any

    def definition(self, conn: Connection, version_id: int) -> Definition:  # pragma: no cover
        raise NotImplementedError

    def redact(self, value: Any) -> Any:  # pragma: no cover
        return value


def default_idempotency_key(run_id: str, token: str, action_id: str, version: int) -> str:
    raw = f"{run_id}|{token}|{action_id}@{version}".encode()
    return hashlib.sha256(raw).hexdigest()


def write_checkpoints(
    conn: Connection, requests: list[CheckpointRequest], services: Services, now: datetime
) -> list[CheckpointResult]:
    results: list[CheckpointResult] = []
    history_rows: list[dict[str, Any]] = []
    for request in requests:
        result = _write_one(conn, request, services, now, history_rows)
        results.append(result)
    if history_rows:
        conn.execute(t.step_history.insert(), history_rows)
    return results


def _write_one(
    conn: Connection,
    request: CheckpointRequest,
    services: Services,
    now: datetime,
    history_rows: list[dict[str, Any]],
) -> CheckpointResult:
    run = request.run
    outcome = request.outcome
    status = outcome.status.value
    terminal = status in TERMINAL
    values: dict[str, Any] = {
        "state": outcome.state,
        "status": status,
        "current_step": outcome.current_steps[0] if outcome.current_steps else None,
        "updated_at": now,
    }
    if terminal:
        values.update(
            output=outcome.output,
            error=outcome.error,
            finished_at=now,
            wake_at=None,
            lease_owner=None,
            lease_expires_at=None,
            active_subject_key=None,
        )
    updated = conn.execute(
        t.runs.update()
        .where(
            t.runs.c.id == run.id,
            t.runs.c.lease_owner == services.lease_owner,
            t.runs.c.claim_count == run.claim_count,
            t.runs.c.status.not_in(TERMINAL),
        )
        .values(**values)
    )
    if updated.rowcount != 1:
        return CheckpointResult(lost=True)
    result = CheckpointResult()

    for entry in outcome.history:
        history_rows.append(_history_row(run, entry, now, services))
    if request.consumed_inbox:
        conn.execute(t.run_inbox.delete().where(t.run_inbox.c.id.in_(request.consumed_inbox)))
    for call, action_result in request.completed_calls:
        _finish_ledger(conn, run, call, action_result, now, services)
    for call in request.new_calls:
        _claim_ledger(conn, run, call, now, services, result)

    for command in outcome.commands:
        if isinstance(command, CallAction):
            continue
        if isinstance(command, WaitForEvent):
            _park_event(conn, run, command, now)
        elif isinstance(command, WaitUntil):
            _insert_wait(
                conn,
                run,
                command.token,
                command.step_id,
                "timer",
                now,
                due_at=command.due_at,
                reason=command.reason,
            )
        elif isinstance(command, CreateTask):
            _create_task(conn, run, command, now)
        elif isinstance(command, StartChild):
            _start_child(conn, run, command, now, services)
        elif isinstance(command, EmitEvent):
            submit_event(
                conn,
                run.tenant_id,
                command.name,
                command.key,
                command.payload,
                now,
                services.definition,
                services.schemas,
                event_id=command.event_id,
                source_run_id=run.id,
            )
        elif isinstance(command, CancelWait):
            _cancel_token(conn, run, command.token, now)

    if terminal:
        _close_run(conn, run, outcome, now)
        return result

    inbox = conn.execute(
        sa.select(t.run_inbox).where(t.run_inbox.c.run_id == run.id).order_by(t.run_inbox.c.id)
    ).all()
    result.inbox = list(inbox)
    outstanding_calls = any(isinstance(c, CallAction) for c in outcome.commands)
    idle = not (inbox or outstanding_calls or result.ledger_hits or result.busy)
    if status == "WAITING" and idle:
        conn.execute(
            t.runs.update()
            .where(t.runs.c.id == run.id)
            .values(wake_at=None, lease_owner=None, lease_expires_at=None)
        )
        result.released = True
    else:
        conn.execute(
            t.runs.update()
            .where(t.runs.c.id == run.id)
            .values(lease_expires_at=now + timedelta(seconds=services.lease_seconds))
        )
    return result


def _history_row(
    run: ClaimedRun, entry: HistoryEntry, now: datetime, services: Services
) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "step_id": entry.step_id,
        "token": entry.token,
        "step_type": entry.step_type,
        "version_number": run.version_number,
        "attempt": entry.attempt,
        "status": entry.status,
        "logical_time": entry.at,
        "recorded_at": now,
        "input": services.redact(entry.input),
        "output": services.redact(entry.output),
        "error": entry.error,
    }


def _finish_ledger(
    conn: Connection,
    run: ClaimedRun,
    call: CallAction,
    action_result: ActionResult,
    now: datetime,
    services: Services,
) -> None:
    ok = action_result.error is None
    conn.execute(
        t.action_ledger.update()
        .where(
            t.action_ledger.c.tenant_id == run.tenant_id,
            t.action_ledger.c.key == call.idempotency_key,
            t.action_ledger.c.status == "started",
        )
        .values(
            status="succeeded" if ok else "failed",
            output=action_result.output if ok else None,
            error=action_result.error,
            lease_expires_at=None,
            updated_at=now,
        )
    )


def _claim_ledger(
    conn: Connection,
    run: ClaimedRun,
    call: CallAction,
    now: datetime,
    services: Services,
    result: CheckpointResult,
) -> None:
    """Claim the call's idempotency key, or answer it from the ledger (SPEC §4.5)."""
    lease = now + timedelta(seconds=max(services.lease_seconds, (call.timeout_ms or 0) / 1000))
    ledger = t.action_ledger
    row = conn.execute(
        sa.select(
            ledger.c.status,
            ledger.c.run_id,
            ledger.c.token,
            ledger.c.output,
            ledger.c.lease_expires_at,
        ).where(ledger.c.tenant_id == run.tenant_id, ledger.c.key == call.idempotency_key)
    ).first()
    claim_values = {
        "run_id": run.id,
        "token": call.token,
        "step_id": call.step_id,
        "action_id": call.action_id,
        "action_version": call.version,
        "attempt": call.attempt,
        "status": "started",
        # Unredacted on purpose: a reclaimed call is re-issued from this row. Secrets are still
        # references here; they are substituted only inside the executor.
        "input": call.input,
        "timeout_ms": call.timeout_ms,
        "lease_expires_at": lease,
        "updated_at": now,
    }
    if row is None:
        conn.execute(
            ledger.insert().values(
                tenant_id=run.tenant_id,
                key=call.idempotency_key,
                calls=1,
                created_at=now,
                **claim_values,
            )
        )
        result.execute.append(call)
        return
    if row.status == "succeeded":
        result.ledger_hits.append(
            ActionResult(token=call.token, attempt=call.attempt, at=now, output=row.output)
        )
        return
    ours = row.run_id == run.id and row.token == call.token
    stale = row.lease_expires_at is None or row.lease_expires_at <= now
    if row.status == "failed" or ours or stale:
        # A failed key may be retried; a started entry of this very run was left by a worker
        # that died (we hold the run's claim now); another run's entry past its lease is dead.
        conn.execute(
            ledger.update()
            .where(ledger.c.tenant_id == run.tenant_id, ledger.c.key == call.idempotency_key)
            .values(calls=ledger.c.calls + 1, **claim_values)
        )
        result.execute.append(call)
        return
    # Another live run holds the key right now (a shared idempotencyKey): ask again shortly;
    # when it finishes, its stored output answers this call too.
    result.busy.append(call)


def _insert_wait(
    conn: Connection,
    run: ClaimedRun,
    token: str,
    step_id: str,
    kind: str,
    now: datetime,
    **values: Any,
) -> int:
    return int(
        conn.execute(
            t.waits.insert()
            .values(
                tenant_id=run.tenant_id,
                run_id=run.id,
                token=token,
                step_id=step_id,
                kind=kind,
                status="open",
                created_at=now,
                **values,
            )
            .returning(t.waits.c.id)
        ).scalar_one()
    )


def _park_event(conn: Connection, run: ClaimedRun, command: WaitForEvent, now: datetime) -> None:
    wait_id = _insert_wait(
        conn,
        run,
        command.token,
        command.step_id,
        "event",
        now,
        event_name=command.event_name,
        correlation_key=command.correlation_key,
        filter=command.filter,
        filter_envelope=command.filter_envelope,
        due_at=command.due_at,
    )
    match_buffered_event(
        conn,
        run.tenant_id,
        run.id,
        wait_id,
        command.token,
        command.event_name,
        command.correlation_key,
        command.filter,
        command.filter_envelope,
        now,
    )


def _create_task(conn: Connection, run: ClaimedRun, command: CreateTask, now: datetime) -> None:
    exists = conn.execute(
        sa.select(t.human_tasks.c.id).where(t.human_tasks.c.id == command.task_id)
    ).first()
    if exists:
        return
    conn.execute(
        t.human_tasks.insert().values(
            id=command.task_id,
            tenant_id=run.tenant_id,
            run_id=run.id,
            token=command.token,
            step_id=command.step_id,
            title=command.title,
            description=command.description,
            assignee=command.assignee,
            form_schema=command.form_schema,
            status="open",
            due_at=command.due_at,
            created_at=now,
        )
    )
    _insert_wait(
        conn,
        run,
        command.token,
        command.step_id,
        "task",
        now,
        ref_id=command.task_id,
        due_at=command.due_at,
    )


def _start_child(
    conn: Connection, run: ClaimedRun, command: StartChild, now: datetime, services: Services
) -> None:
    from flowpin.engine.publishing import version_row, workflow_row

    error: dict[str, Any] | None = None
    try:
        workflow = workflow_row(conn, run.tenant_id, command.workflow_key)
        version = version_row(
            conn, workflow.id, None if command.version == "latest" else int(command.version)
        )
        definition = services.definition(conn, version.id)
        from flowpin.engine.starting import check_payload

        check_payload(definition, command.payload, services.schemas)
    except Exception as exc:  # the parent sees the failure as an ActionError, not a crash
        error = {"category": "ActionError", "message": f"child workflow not started: {exc}"}
    if error is None:
        insert_run(
            conn,
            NewRun(
                tenant_id=run.tenant_id,
                workflow_id=workflow.id,
                workflow_key=command.workflow_key,
                version_id=version.id,
                version_number=version.number,
                payload=command.payload,
                subject=run.subject,
                run_id=command.child_run_id,
                parent_run_id=run.id,
                parent_token=command.token if command.wait else None,
                trigger="parent",
            ),
            definition,
            now,
        )
    if command.wait:
        wait_id = _insert_wait(
            conn, run, command.token, command.step_id, "child", now, ref_id=command.child_run_id
        )
        if error is not None:
            claim_wait(conn, wait_id, now)
            add_inbox(
                conn,
                run.id,
                command.token,
                "child",
                {"status": "FAILED", "output": None, "error": error},
                now,
            )


def _cancel_token(conn: Connection, run: ClaimedRun, token: str, now: datetime) -> None:
    rows = conn.execute(
        sa.select(t.waits.c.id, t.waits.c.kind, t.waits.c.ref_id).where(
            t.waits.c.run_id == run.id, t.waits.c.token == token, t.waits.c.status == "open"
        )
    ).all()
    for row in rows:
        if claim_wait(conn, row.id, now, status="canceled") and row.kind == "task":
            conn.execute(
                t.human_tasks.update()
                .where(t.human_tasks.c.id == row.ref_id, t.human_tasks.c.status == "open")
                .values(status="canceled", completed_at=now)
            )


def _close_run(conn: Connection, run: ClaimedRun, outcome: Outcome, now: datetime) -> None:
    """A terminal run: close its waits and tasks, drop its inbox, and tell a waiting parent."""
    conn.execute(
        t.waits.update()
        .where(t.waits.c.run_id == run.id, t.waits.c.status == "open")
        .values(status="canceled", resolved_at=now)
    )
    conn.execute(
        t.human_tasks.update()
        .where(t.human_tasks.c.run_id == run.id, t.human_tasks.c.status == "open")
        .values(status="canceled", completed_at=now)
    )
    conn.execute(t.run_inbox.delete().where(t.run_inbox.c.run_id == run.id))
    notify_parent(conn, run.id, outcome.status.value, outcome.output, outcome.error, now)


def notify_parent(
    conn: Connection,
    child_run_id: str,
    status: str,
    output: Any,
    error: Any,
    now: datetime,
) -> None:
    wait = conn.execute(
        sa.select(t.waits.c.id, t.waits.c.run_id, t.waits.c.token).where(
            t.waits.c.kind == "child",
            t.waits.c.ref_id == child_run_id,
            t.waits.c.status == "open",
        )
    ).first()
    if wait is None or not claim_wait(conn, wait.id, now):
        return
    add_inbox(
        conn,
        wait.run_id,
        wait.token,
        "child",
        {"status": status, "output": output, "error": error},
        now,
    )
    wake_runs(conn, [wait.run_id], now)


def new_lease_owner() -> str:
    return uuid.uuid4().hex[:16]


FireCallback = Callable[[], None]
