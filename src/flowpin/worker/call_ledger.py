"""The ledger protocol of a checkpoint (SPEC §4.5): the calls a batch settles record their
results, and the calls it issues claim their idempotency keys first - or are answered from the
ledger, or wait for the live run that holds the key. A side effect is thereby called at most
once per key, whichever worker holds the run."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flowpin.runtime.decisions import ActionResult, CallAction
from flowpin.store.bulk import Bulk, json_param
from flowpin.store.database import Connection
from flowpin.store.ledger import (
    FINISH_LEDGER,
    INSERT_LEDGER,
    RECORD_LEDGER,
    Claim,
    FinishedCallRow,
    RecordedCallRow,
    StartedCallRow,
    ledger_entries,
    reclaim_entry,
)
from flowpin.worker.checkpoint_batch import Live, Services


def repeatable(services: Services, call: CallAction) -> bool:
    """Whether calling ``call``'s action again changes nothing more (effect ``none`` or
    ``idempotent``, and not transactional). Such a call gets no "started" entry before it runs
    - the entry exists to stop a second call of a side effect - only its result afterwards: one
    ledger write instead of two. An action this worker does not know is a side effect."""
    registry = services.schemas
    action = getattr(registry, "action", None)
    return repeatable_action(action(call.action_id, call.version) if action else None)


def repeatable_action(spec: Any) -> bool:
    """Whether an action (its registered spec, None when unknown) may be called again with
    no more effect: ``none`` or ``idempotent``, and not run inside the checkpoint."""
    return spec is not None and spec.effect != "side_effect" and not spec.transactional


def finish_calls(
    conn: Connection, bulk: Bulk, live: Live, now: datetime, services: Services
) -> None:
    """Record the results of the calls the batch consumed: a started entry is finished; a
    repeatable call, which had none, gets its entry now (one per key: two runs sharing a key
    may finish together)."""
    stamp = bulk.time(now)
    finished: list[FinishedCallRow] = []
    recorded: dict[tuple[str, str], RecordedCallRow] = {}
    repeats: dict[tuple[str, int], bool] = {}  # by action: a batch calls a few actions often
    for request, _ in live:
        run = request.run
        for call, result in request.completed_calls:
            status = "succeeded" if result.error is None else "failed"
            output = json_param(result.output) if result.error is None else None
            error = json_param(result.error)
            action = (call.action_id, call.version)
            again = repeats.get(action)
            if again is None:
                again = repeats[action] = repeatable(services, call)
            if not again:
                finished.append(
                    FinishedCallRow(
                        status=status,
                        output=output,
                        error=error,
                        updated_at=stamp,
                        tenant_id=run.tenant_id,
                        key=call.idempotency_key,
                    )
                )
                continue
            recorded.setdefault(
                (run.tenant_id, call.idempotency_key),
                RecordedCallRow(
                    tenant_id=run.tenant_id,
                    key=call.idempotency_key,
                    run_id=run.id,
                    token=call.token,
                    step_id=call.step_id,
                    action_id=call.action_id,
                    action_version=call.version,
                    attempt=call.attempt,
                    status=status,
                    created_at=stamp,
                    updated_at=stamp,
                    timeout_ms=call.timeout_ms,
                    input=json_param(call.input),
                    output=output,
                    error=error,
                ),
            )
    bulk.write(conn, FINISH_LEDGER, finished)
    bulk.write(conn, RECORD_LEDGER, list(recorded.values()))


def claim_calls(
    conn: Connection, bulk: Bulk, live: Live, now: datetime, services: Services
) -> None:
    """Claim each new call's idempotency key, or answer it from the ledger (SPEC §4.5); each
    call lands in its result's ``execute``, ``ledger_hits`` or ``busy``."""
    wanted = [(req, res, call) for req, res in live for call in req.new_calls]
    if not wanted:
        return
    existing: dict[tuple[str, str], Any] = {}
    by_tenant: dict[str, list[str]] = {}
    for request, _res, call in wanted:
        by_tenant.setdefault(request.run.tenant_id, []).append(call.idempotency_key)
    for tenant_id, keys in by_tenant.items():
        for row in ledger_entries(conn, tenant_id, keys):
            existing[(tenant_id, row.key)] = row
    inserts: list[StartedCallRow] = []
    now_text = bulk.time(now)
    lease_text = bulk.time(now + timedelta(seconds=services.lease_seconds))
    claimed_now: set[tuple[str, str]] = set()
    for request, result, call in wanted:
        run = request.run
        ident = (run.tenant_id, call.idempotency_key)
        lease = now + timedelta(seconds=max(services.lease_seconds, (call.timeout_ms or 0) / 1000))
        row = existing.get(ident)
        if row is None and ident not in claimed_now and repeatable(services, call):
            claimed_now.add(ident)
            result.execute.append(call)
            continue
        if row is None and ident not in claimed_now:
            inserts.append(
                StartedCallRow(
                    tenant_id=run.tenant_id,
                    key=call.idempotency_key,
                    run_id=run.id,
                    token=call.token,
                    step_id=call.step_id,
                    action_id=call.action_id,
                    action_version=call.version,
                    attempt=call.attempt,
                    lease_expires_at=lease_text if call.timeout_ms is None else bulk.time(lease),
                    created_at=now_text,
                    updated_at=now_text,
                    timeout_ms=call.timeout_ms,
                    input=json_param(call.input),
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
        if row.status == "failed" and ident not in claimed_now and repeatable(services, call):
            claimed_now.add(ident)  # its result will replace the failed entry
            result.execute.append(call)
            continue
        if (row.status == "failed" or ours or stale) and ident not in claimed_now:
            # A failed key may be retried; a started entry of this very run was left by a
            # worker that died (we hold the run's claim now); another run's entry past its
            # lease is dead.
            claim = Claim(
                run_id=run.id,
                token=call.token,
                step_id=call.step_id,
                action_id=call.action_id,
                action_version=call.version,
                attempt=call.attempt,
                # Unredacted on purpose: a reclaimed call is re-issued from this row. Secrets
                # are still references here; they are substituted only inside the executor.
                input=call.input,
                timeout_ms=call.timeout_ms,
                lease_expires_at=lease,
            )
            reclaim_entry(conn, run.tenant_id, call.idempotency_key, claim, now)
            claimed_now.add(ident)
            result.execute.append(call)
            continue
        # Another live run holds the key right now (a shared idempotencyKey): ask again
        # shortly; when it finishes, its stored output answers this call too.
        result.busy.append(call)
    bulk.write(conn, INSERT_LEDGER, inserts)
