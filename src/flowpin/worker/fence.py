"""The fence of a checkpoint: only a worker that still holds a run's claim writes for it."""

from __future__ import annotations

import logging

from flowpin.observability import metrics
from flowpin.store.claims import claim_holders
from flowpin.store.database import Connection
from flowpin.types import TERMINAL_STATUSES
from flowpin.worker.checkpoint_batch import CheckpointRequest, CheckpointResult, Live

log = logging.getLogger("flowpin.worker")


def keep_held(
    conn: Connection,
    requests: list[CheckpointRequest],
    results: list[CheckpointResult],
    owner: str,
) -> Live:
    """The requests whose claim ``owner`` still holds: same lease owner, same claim, run not
    ended. The others are marked lost (their lease expired and another worker took the run, or
    an operator canceled it). The claims are read inside the write transaction, locked, so
    none can be taken between this check and the writes that follow."""
    current = claim_holders(conn, [r.run.id for r in requests])
    live = []
    for request, result in zip(requests, results, strict=True):
        row = current.get(request.run.id)
        if (
            row is None
            or row.lease_owner != owner
            or row.claim_count != request.run.claim_count
            or row.status in TERMINAL_STATUSES
        ):
            result.lost = True
            canceled = row is not None and row.status in TERMINAL_STATUSES
            reason = "canceled" if canceled else "taken_over"
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
