"""Writing interpreter outcomes: one transaction for a whole batch of runs (group commit).

For each run the checkpoint writes, atomically: the state (fenced by the claim, so a worker
that lost its lease writes nothing), the history rows the outcome completes, the ledger results
of the calls it consumed and the ledger claims of the calls it issues, waits, tasks, child runs,
emitted events, and — on a terminal status — the parent's wake-up. Batching many runs into one
commit is what makes durable steps cheap: the commit, not the SQL, is the physical limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.definitions.models import Definition
from flowpin.observability import metrics, tracing
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
from flowpin.runtime.positions import encode as encode_positions
from flowpin.store import tables as t
from flowpin.store.bulk import (
    FINISH_LEDGER,
    INSERT_HISTORY,
    INSERT_LEDGER,
    RECORD_LEDGER,
    RELEASE_RUNS,
    REQUEUE_RUNS,
    UPDATE_HELD_RUNS,
    UPDATE_STEPPED_RUNS,
    UPDATE_TERMINAL_RUNS,
    Bulk,
    FinishedCallRow,
    HistoryRow,
    RequeuedRunRow,
    RunRow,
    SteppedRunRow,
    TerminalRunRow,
    dumps,
    json_param,
)
from flowpin.store.claims import inbox_for
from flowpin.store.events import submit_event
from flowpin.store.notify import signal_work
from flowpin.store.runs import ClosedRun, NewRun, check_payload, close_runs, insert_runs
from flowpin.store.statements import among
from flowpin.store.waits import EndedWait, end_waits, match_buffered_event, resolve_waits
from flowpin.store.workflows import version_row, workflow_row
from flowpin.types import TERMINAL_STATUSES, RunStatus
from flowpin.worker.spans import trace_steps

log = logging.getLogger("flowpin.worker")


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
    status: str = "PENDING"
    """The status the run's row holds (as claimed, then as last checkpointed)."""

    @classmethod
    def from_row(cls, row: Any) -> ClaimedRun:
        """From a ``runs`` row as ``claims.claim_runs`` returns it."""
        return cls(
            id=row.id,
            tenant_id=row.tenant_id,
            workflow_id=row.workflow_id,
            workflow_key=row.workflow_key,
            version_id=row.version_id,
            version_number=row.version_number,
            subject=row.subject,
            created_at=row.created_at,
            parent_run_id=row.parent_run_id,
            parent_token=row.parent_token,
            state=row.state,
            claim_count=row.claim_count,
            status=row.status,
        )


@dataclass(slots=True)
class CheckpointRequest:
    run: ClaimedRun
    outcome: Outcome
    consumed_inbox: list[int] = field(default_factory=list)
    completed_calls: list[tuple[CallAction, ActionResult]] = field(default_factory=list)
    new_calls: list[CallAction] = field(default_factory=list)
    requeue: bool = False
    """The run spent its CPU budget for this claim: unless this checkpoint leaves it action
    calls to make or answers to take, hand it back, claimable now (behind the runs waiting)."""


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
    """What a checkpoint needs beyond the connection; built from the worker's ``WorkerDeps``."""

    lease_owner: str
    lease_seconds: float
    schemas: Any
    max_steps_per_run: int | None = None
    """History steps a run may record before it fails with ``limit.steps`` (None: no limit)."""
    max_call_depth: int | None = None
    """Nesting of ``control.callWorkflow`` past which a child run is created FAILED with
    ``limit.depth`` (None: no limit)."""
    max_children_per_run: int | None = None
    """Child runs a run may start before it fails with ``limit.children`` (None: no limit)."""

    def definition(self, conn: Connection, version_id: int) -> Definition:  # pragma: no cover
        raise NotImplementedError

    def redact(self, value: Any) -> Any:  # pragma: no cover
        return value

    def history_redactor(
        self,
        conn: Connection,
        run: ClaimedRun,
        state: dict[str, Any],
        history: Sequence[HistoryEntry],
    ) -> Callable[[Any], Any]:
        """What masks this run's ``history`` payloads (key patterns, and the values at the
        workflow's redaction pointers in ``state`` and where the entries' steps saved them)."""
        return self.redact


def write_checkpoints(
    conn: Connection, requests: list[CheckpointRequest], services: Services, now: datetime
) -> list[CheckpointResult]:
    """Write a batch of outcomes in the caller's transaction, with a handful of statements for
    the whole batch (executemany) rather than a handful per run."""
    results = [CheckpointResult() for _ in requests]
    bulk = Bulk(conn)
    live = _fence(conn, requests, results, services)
    if not live:
        return results
    if services.max_steps_per_run is not None:
        _limit_steps(live, services.max_steps_per_run)
    if services.max_children_per_run is not None:
        _limit_children(live, services.max_children_per_run)
    consumed = [row_id for request, _ in live for row_id in request.consumed_inbox]
    if consumed:
        conn.execute(t.run_inbox.delete().where(among(conn, t.run_inbox.c.id, consumed)))
    _finish_ledger(conn, bulk, live, now, services)
    _claim_ledger(conn, bulk, live, now, services)
    history_rows: list[HistoryRow] = []
    recorded = bulk.time(now)
    for request, _result in live:
        run = request.run
        if request.outcome.history:
            redact = services.history_redactor(
                conn, run, request.outcome.state, request.outcome.history
            )
        for entry in request.outcome.history:
            history_rows.append(_history_row(bulk, run, entry, recorded, redact))
        for command in request.outcome.commands:
            _apply_command(conn, run, command, now, services)
    terminal = [(req, res) for req, res in live if req.outcome.status.terminal]
    active = [(req, res) for req, res in live if not req.outcome.status.terminal]
    _count(live, terminal)
    if terminal:
        stamp = bulk.time(now)
        bulk.write(
            conn,
            UPDATE_TERMINAL_RUNS,
            [
                TerminalRunRow(
                    state=dumps(req.outcome.state),
                    status=req.outcome.status.value,
                    positions=encode_positions(req.outcome.state),
                    output=json_param(req.outcome.output),
                    error=json_param(req.outcome.error),
                    updated_at=stamp,
                    finished_at=stamp,
                    id=req.run.id,
                )
                for req, _res in terminal
            ],
        )
        close_runs(
            conn,
            [
                ClosedRun(
                    req.run.id,
                    req.outcome.status.value,
                    req.outcome.output,
                    req.outcome.error,
                    has_parent=req.run.parent_run_id is not None,
                )
                for req, _res in terminal
            ],
            now,
        )
    if active:
        inbox = inbox_for(conn, [req.run.id for req, _res in active])
        stamp = bulk.time(now)
        held: list[RunRow] = []
        stepped: list[SteppedRunRow] = []
        released: list[RunRow] = []
        requeued: list[RequeuedRunRow] = []
        for request, result in active:
            run = request.run
            result.inbox = inbox.get(run.id, [])
            if result.inbox:
                metrics.observe_event_resumes(result.inbox, now)
            outcome = request.outcome
            status = outcome.status.value
            outstanding = any(isinstance(c, CallAction) for c in outcome.commands)
            idle = not (result.inbox or outstanding or result.ledger_hits or result.busy)
            result.released = status == "WAITING" and idle
            current = outcome.current_steps[0] if outcome.current_steps else None
            state, at = dumps(outcome.state), encode_positions(outcome.state)
            if request.requeue and not (
                outstanding or result.ledger_hits or result.busy or result.execute
            ):
                result.released = True
                requeued.append(RequeuedRunRow(state, status, current, at, stamp, stamp, run.id))
            elif result.released:
                released.append(RunRow(state, status, current, at, stamp, run.id))
            elif status == run.status:
                stepped.append(SteppedRunRow(state, current, at, stamp, run.id))
            else:
                held.append(RunRow(state, status, current, at, stamp, run.id))
            # A failed batch closes its runs (they are claimed afresh), so this stays true.
            run.status = status
        # A run still held keeps its wake_at and lease columns as the claim set them (the
        # renewer extends the lease), so its row's indexes are not rewritten on every step;
        # nor is its status when it did not change (measured on SQLite: 10 µs → 4 µs a row).
        bulk.write(conn, UPDATE_HELD_RUNS, held)
        bulk.write(conn, UPDATE_STEPPED_RUNS, stepped)
        bulk.write(conn, RELEASE_RUNS, released)
        if requeued:
            bulk.write(conn, REQUEUE_RUNS, requeued)
            signal_work(conn)
    bulk.write(conn, INSERT_HISTORY, history_rows)
    return results


def _fence(
    conn: Connection,
    requests: list[CheckpointRequest],
    results: list[CheckpointResult],
    services: Services,
) -> list[tuple[CheckpointRequest, CheckpointResult]]:
    """Keep the requests whose claim still holds. The rows are read inside the write
    transaction (SQLite: the writer lock; PostgreSQL: ``FOR UPDATE``), so nobody can take the
    claim between this check and the writes that follow."""
    query = sa.select(
        t.runs.c.id, t.runs.c.lease_owner, t.runs.c.claim_count, t.runs.c.status
    ).where(among(conn, t.runs.c.id, [r.run.id for r in requests]))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    current = {row.id: row for row in conn.execute(query)}
    live = []
    for request, result in zip(requests, results, strict=True):
        row = current.get(request.run.id)
        if (
            row is None
            or row.lease_owner != services.lease_owner
            or row.claim_count != request.run.claim_count
            or row.status in TERMINAL_STATUSES
        ):
            result.lost = True
            reason = (
                "canceled" if row is not None and row.status in TERMINAL_STATUSES else "taken_over"
            )
            metrics.LEASES_LOST.labels(reason).inc()
            if reason == "taken_over":
                log.warning(
                    "lost the lease on run %s: its lease expired and %s took it over",
                    request.run.id,
                    row.lease_owner if row is not None else "another worker",
                    extra={"run_id": request.run.id, "workflow": request.run.workflow_key},
                )
        else:
            live.append((request, result))
    return live


def _count(
    live: list[tuple[CheckpointRequest, CheckpointResult]],
    terminal: list[tuple[CheckpointRequest, CheckpointResult]],
) -> None:
    """The batch's steps and run endings, in the process's metrics (one increment per label
    set of the batch), and its failures and retries in the log."""
    metrics.count_steps(
        (entry.step_type, entry.status) for request, _ in live for entry in request.outcome.history
    )
    for request, _ in live:
        for entry in request.outcome.history:
            if entry.status in ("failed", "retrying"):
                _log_failure(request.run, entry)
    if tracing.tracer() is not None:
        for request, _ in live:
            trace_steps(request.run, request.outcome.state, request.outcome.history)
    if terminal:
        metrics.count_finished(
            (req.run.tenant_id, req.run.workflow_key, req.outcome.status.value)
            for req, _res in terminal
        )
        for req, _res in terminal:
            if req.outcome.status is RunStatus.FAILED:
                error = req.outcome.error or {}
                log.warning(
                    "run %s of %s failed: %s",
                    req.run.id,
                    req.run.workflow_key,
                    _reason(error),
                    extra=_fields(req.run, error.get("stepId"), error),
                )


def _log_failure(run: ClaimedRun, entry: HistoryEntry) -> None:
    """A failed step attempt: retried (with its reason) or not. Ids, category and message
    only - never the step's input or output."""
    error = entry.error or {}
    retrying = entry.status == "retrying"
    log.warning(
        "step %s of run %s (%s) attempt %d failed%s: %s",
        entry.step_id,
        run.id,
        run.workflow_key,
        entry.attempt,
        ", retrying" if retrying else "",
        _reason(error),
        extra={**_fields(run, entry.step_id, error), "attempt": entry.attempt},
    )


def _reason(error: dict[str, Any]) -> str:
    message = str(error.get("message") or "")
    if len(message) > 300:
        message = message[:300] + "…"
    category = error.get("category") or "Error"
    return f"{category}: {message}" if message else str(category)


def _fields(run: ClaimedRun, step_id: str | None, error: dict[str, Any]) -> dict[str, Any]:
    data = error.get("data")
    code = error.get("code") or (data.get("code") if isinstance(data, dict) else None)
    return {
        "run_id": run.id,
        "step_id": step_id,
        "workflow": run.workflow_key,
        "category": error.get("category"),
        "code": code if isinstance(code, str) else None,
    }


def _apply_command(
    conn: Connection, run: ClaimedRun, command: Any, now: datetime, services: Services
) -> None:
    if isinstance(command, CallAction):
        return
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


def _limit_steps(live: list[tuple[CheckpointRequest, CheckpointResult]], limit: int) -> None:
    """Count each run's history steps in its state (``hs``: no query) and fail a run that
    goes past ``limit``: a loop that never ends must not grow its history for ever. The
    failure is the engine's, not a step's, so no tryCatch can swallow it."""
    for request, _result in live:
        outcome = request.outcome
        if not outcome.history:
            continue
        state = outcome.state
        count = int(state.get("hs", 0)) + len(outcome.history)
        state["hs"] = count
        if count <= limit or outcome.status in (RunStatus.FAILED, RunStatus.CANCELED):
            continue
        _fail_run(
            request,
            {
                "category": "LimitError",
                "code": "limit.steps",
                "message": f"the run recorded {count} steps; the limit is {limit} per run",
                "stepId": outcome.history[-1].step_id,
                "data": {"limit": limit, "steps": count},
            },
        )


def _limit_children(live: list[tuple[CheckpointRequest, CheckpointResult]], limit: int) -> None:
    """Count the child runs each run starts (``ch`` in its state) and fail a run that would
    start more than ``limit``: a loop of ``control.callWorkflow`` must not fill the database.
    Like ``limit.steps``, the failure is the engine's, so no tryCatch can swallow it."""
    for request, _result in live:
        outcome = request.outcome
        started = sum(isinstance(c, StartChild) for c in outcome.commands)
        if not started:
            continue
        state = outcome.state
        count = int(state.get("ch", 0)) + started
        state["ch"] = count
        if count <= limit or outcome.status in (RunStatus.FAILED, RunStatus.CANCELED):
            continue
        step_id = next(c.step_id for c in reversed(outcome.commands) if isinstance(c, StartChild))
        _fail_run(
            request,
            {
                "category": "LimitError",
                "code": "limit.children",
                "message": f"the run would start {count} child runs; the limit is {limit} per run",
                "stepId": step_id,
                "data": {"limit": limit, "children": count},
            },
        )


def _fail_run(request: CheckpointRequest, error: dict[str, Any]) -> None:
    """End the run of ``request`` FAILED with ``error``, issuing none of its commands."""
    outcome = request.outcome
    state = outcome.state
    state["status"] = RunStatus.FAILED.value
    state.pop("output", None)
    state["envelope"] = {**state["envelope"], "error": error}
    outcome.status = RunStatus.FAILED
    outcome.error = error
    outcome.output = None
    outcome.commands = []
    outcome.current_steps = []
    request.new_calls = []


def _history_row(
    bulk: Bulk,
    run: ClaimedRun,
    entry: HistoryEntry,
    recorded: Any,
    redact: Callable[[Any], Any],
) -> HistoryRow:
    return HistoryRow(
        run_id=run.id,
        step_id=entry.step_id,
        token=entry.token,
        step_type=entry.step_type,
        version_number=run.version_number,
        attempt=entry.attempt,
        status=entry.status,
        logical_time=bulk.time(entry.at),
        recorded_at=recorded,
        started_at=bulk.time(entry.started_at),
        input=json_param(redact(entry.input)),
        output=json_param(redact(entry.output)),
        error=json_param(redact(entry.error)),
        detail=json_param(entry.detail),
    )


def _repeatable(services: Services, call: CallAction) -> bool:
    """Whether calling ``call``'s action again changes nothing more (effect ``none`` or
    ``idempotent``, and not transactional). Such a call gets no "started" entry before it runs
    - the entry exists to stop a second call of a side effect - only its result afterwards: one
    ledger write instead of two. An action this worker does not know is a side effect."""
    registry = services.schemas
    action = getattr(registry, "action", None)
    spec = action(call.action_id, call.version) if action is not None else None
    return spec is not None and spec.effect != "side_effect" and not spec.transactional


def _ledger_identity(run: ClaimedRun, call: CallAction) -> tuple[Any, ...]:
    """The leading columns of a ledger row: whose call it is (INSERT_LEDGER, RECORD_LEDGER)."""
    return (
        run.tenant_id,
        call.idempotency_key,
        run.id,
        call.token,
        call.step_id,
        call.action_id,
        call.version,
        call.attempt,
    )


def _finish_ledger(
    conn: Connection,
    bulk: Bulk,
    live: list[tuple[CheckpointRequest, CheckpointResult]],
    now: datetime,
    services: Services,
) -> None:
    stamp = bulk.time(now)
    finished: list[FinishedCallRow] = []
    recorded: dict[tuple[str, str], tuple[Any, ...]] = {}
    for request, _ in live:
        run = request.run
        for call, result in request.completed_calls:
            status = "succeeded" if result.error is None else "failed"
            output = json_param(result.output) if result.error is None else None
            error = json_param(result.error)
            if not _repeatable(services, call):
                key = call.idempotency_key
                finished.append(FinishedCallRow(status, output, error, stamp, run.tenant_id, key))
                continue
            # One row per key and statement (two runs sharing a key may finish together).
            recorded.setdefault(
                (run.tenant_id, call.idempotency_key),
                (
                    *_ledger_identity(run, call),
                    status,
                    stamp,
                    stamp,
                    call.timeout_ms,
                    json_param(call.input),
                    output,
                    error,
                ),
            )
    bulk.write(conn, FINISH_LEDGER, finished)
    bulk.write(conn, RECORD_LEDGER, list(recorded.values()))


def _claim_ledger(
    conn: Connection,
    bulk: Bulk,
    live: list[tuple[CheckpointRequest, CheckpointResult]],
    now: datetime,
    services: Services,
) -> None:
    """Claim each new call's idempotency key, or answer it from the ledger (SPEC §4.5)."""
    wanted = [(req, res, call) for req, res in live for call in req.new_calls]
    if not wanted:
        return
    ledger = t.action_ledger
    existing: dict[tuple[str, str], Any] = {}
    by_tenant: dict[str, list[str]] = {}
    for request, _res, call in wanted:
        by_tenant.setdefault(request.run.tenant_id, []).append(call.idempotency_key)
    for tenant_id, keys in by_tenant.items():
        rows = conn.execute(
            sa.select(
                ledger.c.key,
                ledger.c.status,
                ledger.c.run_id,
                ledger.c.token,
                ledger.c.output,
                ledger.c.lease_expires_at,
            ).where(ledger.c.tenant_id == tenant_id, among(conn, ledger.c.key, keys))
        ).all()
        for row in rows:
            existing[(tenant_id, row.key)] = row
    inserts: list[tuple[Any, ...]] = []
    now_text = bulk.time(now)
    lease_text = bulk.time(now + timedelta(seconds=services.lease_seconds))
    claimed_now: set[tuple[str, str]] = set()
    for request, result, call in wanted:
        run = request.run
        ident = (run.tenant_id, call.idempotency_key)
        lease = now + timedelta(seconds=max(services.lease_seconds, (call.timeout_ms or 0) / 1000))
        claim_values = {
            "run_id": run.id,
            "token": call.token,
            "step_id": call.step_id,
            "action_id": call.action_id,
            "action_version": call.version,
            "attempt": call.attempt,
            "status": "started",
            # Unredacted on purpose: a reclaimed call is re-issued from this row. Secrets are
            # still references here; they are substituted only inside the executor.
            "input": call.input,
            "timeout_ms": call.timeout_ms,
            "lease_expires_at": lease,
            "updated_at": now,
        }
        row = existing.get(ident)
        if row is None and ident not in claimed_now and _repeatable(services, call):
            claimed_now.add(ident)
            result.execute.append(call)
            continue
        if row is None and ident not in claimed_now:
            inserts.append(
                (
                    *_ledger_identity(run, call),
                    lease_text if call.timeout_ms is None else bulk.time(lease),
                    now_text,
                    now_text,
                    call.timeout_ms,
                    json_param(call.input),
                )
            )
            claimed_now.add(ident)
            result.execute.append(call)
            continue
        if row is None:  # claimed by another run of this very batch
            result.busy.append(call)
            continue
        if row.status == "succeeded":
            result.ledger_hits.append(
                ActionResult(token=call.token, attempt=call.attempt, at=now, output=row.output)
            )
            continue
        ours = row.run_id == run.id and row.token == call.token
        stale = row.lease_expires_at is None or row.lease_expires_at <= now
        if row.status == "failed" and ident not in claimed_now and _repeatable(services, call):
            claimed_now.add(ident)  # its result will replace the failed entry
            result.execute.append(call)
            continue
        if (row.status == "failed" or ours or stale) and ident not in claimed_now:
            # A failed key may be retried; a started entry of this very run was left by a
            # worker that died (we hold the run's claim now); another run's entry past its
            # lease is dead.
            conn.execute(
                ledger.update()
                .where(ledger.c.tenant_id == run.tenant_id, ledger.c.key == call.idempotency_key)
                .values(calls=ledger.c.calls + 1, **claim_values)
            )
            claimed_now.add(ident)
            result.execute.append(call)
            continue
        # Another live run holds the key right now (a shared idempotencyKey): ask again
        # shortly; when it finishes, its stored output answers this call too.
        result.busy.append(call)
    bulk.write(conn, INSERT_LEDGER, inserts)


def _insert_wait(
    conn: Connection,
    run: ClaimedRun,
    token: str,
    step_id: str,
    kind: str,
    now: datetime,
    **values: Any,
) -> int:
    if values.get("due_at") is not None:
        signal_work(conn, values["due_at"])  # listening workers wake at the deadline
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
    error: dict[str, Any] | None = None
    depth = int(run.state.get("d", 0)) + 1
    failure = None
    limit = services.max_call_depth
    if limit is not None and depth > limit:
        failure = {
            "category": "LimitError",
            "code": "limit.depth",
            "message": f"control.callWorkflow nested {depth} deep; the limit is {limit} "
            f"(does {command.workflow_key!r} call itself, directly or through others?)",
            "stepId": None,
            "data": {"limit": limit, "depth": depth, "parentRunId": run.id},
        }
    try:
        workflow = workflow_row(conn, run.tenant_id, command.workflow_key)
        version = version_row(
            conn, workflow.id, None if command.version == "latest" else int(command.version)
        )
        definition = services.definition(conn, version.id)
        check_payload(definition, command.payload, services.schemas, now)
    except Exception as exc:  # the parent sees the failure as an ActionError, not a crash
        error = {"category": "ActionError", "message": f"child workflow not started: {exc}"}
    if error is None:
        insert_runs(
            conn,
            [
                NewRun(
                    tenant_id=run.tenant_id,
                    workflow_id=workflow.id,
                    workflow_key=command.workflow_key,
                    version_id=version.id,
                    version_number=version.number,
                    definition=definition,
                    payload=command.payload,
                    subject=run.subject,
                    run_id=command.child_run_id,
                    parent_run_id=run.id,
                    parent_token=command.token if command.wait else None,
                    trigger="parent",
                    depth=depth,
                    failure=failure,
                )
            ],
            now,
        )
        error = failure
    if command.wait:
        wait_id = _insert_wait(
            conn, run, command.token, command.step_id, "child", now, ref_id=command.child_run_id
        )
        if error is not None:
            body = {"status": "FAILED", "output": None, "error": error}
            resolve_waits(
                conn, [EndedWait(wait_id, run.id, command.token, "child", body)], now, wake=False
            )


def _cancel_token(conn: Connection, run: ClaimedRun, token: str, now: datetime) -> None:
    rows = conn.execute(
        sa.select(t.waits.c.id, t.waits.c.kind, t.waits.c.ref_id).where(
            t.waits.c.run_id == run.id, t.waits.c.token == token, t.waits.c.status == "open"
        )
    ).all()
    canceled = end_waits(conn, [row.id for row in rows], now, status="canceled")
    for row in rows:
        if row.id in canceled and row.kind == "task":
            conn.execute(
                t.human_tasks.update()
                .where(t.human_tasks.c.id == row.ref_id, t.human_tasks.c.status == "open")
                .values(status="canceled", completed_at=now)
            )
