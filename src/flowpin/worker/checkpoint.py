"""Writing interpreter outcomes: one transaction for a whole batch of runs (group commit).

For each run the checkpoint writes, atomically: the state (fenced by the claim, so a worker
that lost its lease writes nothing: ``worker.fence``), the history rows the outcome completes,
the ledger results of the calls it consumed and the ledger claims of the calls it issues
(``worker.call_ledger``), waits, tasks, child runs, emitted events (``worker.commands``), and -
on a terminal status - the run's closing, which tells a waiting parent (``store.runs.close_runs``).
The limits on steps and children are enforced first (``worker.run_limits``). Batching many runs
into one commit is what makes durable steps cheap: the commit, not the SQL, is the physical limit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flowpin.observability import metrics
from flowpin.runtime.decisions import CallAction, HistoryEntry
from flowpin.runtime.positions import encode as encode_positions
from flowpin.store.bulk import (
    INSERT_HISTORY,
    RELEASE_RUNS,
    REQUEUE_RUNS,
    UPDATE_HELD_RUNS,
    UPDATE_STEPPED_RUNS,
    UPDATE_TERMINAL_RUNS,
    Bulk,
    HistoryRow,
    RequeuedRunRow,
    RunRow,
    SteppedRunRow,
    TerminalRunRow,
    dumps,
    json_param,
)
from flowpin.store.claims import inbox_for, remove_inbox
from flowpin.store.database import Connection
from flowpin.store.notify import signal_work
from flowpin.store.runs import ClosedRun, close_runs
from flowpin.worker.batch_report import report_batch
from flowpin.worker.call_ledger import claim_calls, finish_calls
from flowpin.worker.checkpoint_batch import CheckpointRequest, CheckpointResult, Live, Services
from flowpin.worker.claimed import ClaimedRun
from flowpin.worker.commands import apply_command
from flowpin.worker.fence import keep_held
from flowpin.worker.run_limits import limit_children, limit_steps


def write_checkpoints(
    conn: Connection, requests: list[CheckpointRequest], services: Services, now: datetime
) -> list[CheckpointResult]:
    """Write a batch of outcomes in the caller's transaction, with a handful of statements for
    the whole batch (executemany) rather than a handful per run."""
    results = [CheckpointResult() for _ in requests]
    bulk = Bulk(conn)
    live = keep_held(conn, requests, results, services.lease_owner)
    if not live:
        return results
    if services.max_steps_per_run is not None:
        limit_steps(live, services.max_steps_per_run)
    if services.max_children_per_run is not None:
        limit_children(live, services.max_children_per_run)
    consumed = [row_id for request, _ in live for row_id in request.consumed_inbox]
    if consumed:
        remove_inbox(conn, consumed)
    finish_calls(conn, bulk, live, now, services)
    claim_calls(conn, bulk, live, now, services)
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
            apply_command(conn, run, command, now, services)
    terminal = [(req, res) for req, res in live if req.outcome.status.terminal]
    active = [(req, res) for req, res in live if not req.outcome.status.terminal]
    report_batch(live, terminal)
    if terminal:
        _write_terminal(conn, bulk, terminal, now)
    if active:
        _write_active(conn, bulk, active, now)
    bulk.write(conn, INSERT_HISTORY, history_rows)
    return results


def _write_terminal(conn: Connection, bulk: Bulk, terminal: Live, now: datetime) -> None:
    """Runs that ended: their final row, then their closing (waits, tasks, inbox, parent)."""
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


def _write_active(conn: Connection, bulk: Bulk, active: Live, now: datetime) -> None:
    """Runs that go on: each result takes the inputs that arrived meanwhile, and each row is
    written by the statement its case needs - held (status changed or not), released (parked
    with nothing to do), or requeued (its CPU budget for the claim spent)."""
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
            requeued.append(
                RequeuedRunRow(
                    state=state,
                    status=status,
                    current_step=current,
                    positions=at,
                    updated_at=stamp,
                    wake_at=stamp,
                    id=run.id,
                )
            )
        elif result.released:
            released.append(
                RunRow(
                    state=state,
                    status=status,
                    current_step=current,
                    positions=at,
                    updated_at=stamp,
                    id=run.id,
                )
            )
        elif status == run.status:
            stepped.append(
                SteppedRunRow(
                    state=state, current_step=current, positions=at, updated_at=stamp, id=run.id
                )
            )
        else:
            held.append(
                RunRow(
                    state=state,
                    status=status,
                    current_step=current,
                    positions=at,
                    updated_at=stamp,
                    id=run.id,
                )
            )
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


def _history_row(
    bulk: Bulk,
    run: ClaimedRun,
    entry: HistoryEntry,
    recorded: Any,
    redact: Callable[[Any], Any],
) -> HistoryRow:
    # One per step: nothing asked of the redactor or the encoder for an absent value
    # (redacting None gives None). Keyword arguments, as every bulk row: two values of one
    # type swapped by position would corrupt history silently.
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
        started_at=None if entry.started_at is None else bulk.time(entry.started_at),
        input=None if entry.input is None else dumps(redact(entry.input)),
        output=None if entry.output is None else dumps(redact(entry.output)),
        error=None if entry.error is None else dumps(redact(entry.error)),
        detail=None if entry.detail is None else dumps(entry.detail),
    )
