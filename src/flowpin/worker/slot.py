"""What the worker knows of each run it drives (``Slot``), how it is tuned (``WorkerOptions``)
and what it counts (``WorkerStats``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flowpin.definitions.models import Definition
from flowpin.runtime.decisions import ActionResult, CallAction, Input, Outcome, RunInfo
from flowpin.worker.checkpoint_batch import CheckpointRequest
from flowpin.worker.claimed import ClaimedRun


@dataclass(slots=True)
class WorkerOptions:
    concurrency: int = 512
    """Runs driven at once."""
    claim_batch: int = 128
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    max_commit_batch: int = 512
    cpu_budget_seconds: float = 0.1
    """CPU time a run may spend interpreting per claim; then it yields: its progress is
    checkpointed and it is requeued behind the runs waiting."""
    inline_slice_seconds: float = 0.01
    """A run that interprets longer than this at once continues on the interpreter thread."""
    claim_spacing_seconds: float = 0.003
    """Woken for new work soon after its last claim (``loop.BUSY``), the worker waits this long
    before claiming: a stream of events or starts (each commit wakes it) is then taken a few
    runs per claim and checkpoint, instead of one of each per commit, each taking SQLite's
    write lock from the API's next commit. A wake-up after a quiet moment claims at once.
    Measured on ``flowpin serve`` (SQLite, 30,000 parked runs, interleaved): ``POST
    /api/events`` at 1 client 325 → 397 req/s, at 8 clients 827 → 1,004, at 32 ~1,530 → ~1,600."""
    group_calls: int = 64
    """Calls of repeatable actions a run may make before they are written (``worker.grouping``):
    their results, history and the run's state are then written by one checkpoint. 0: every
    call is a checkpoint of its own."""
    group_seconds: float = 0.2
    """How long such calls may go unwritten: a group older than this is written at once (so
    the run viewer lags a run by at most this, and a crash repeats at most this much work)."""


@dataclass(slots=True)
class WorkerStats:
    claimed: int = 0
    checkpoints: int = 0
    commits: int = 0
    actions_called: int = 0
    timers_fired: int = 0
    finished: int = 0
    yields: int = 0
    """Runs handed back because their CPU budget for the claim was spent."""


@dataclass(slots=True, eq=False)
class Slot:
    """A claimed run the worker drives: what it knows between two checkpoints."""

    run: ClaimedRun
    definition: Definition
    info: RunInfo
    context: dict[str, Any]
    state: dict[str, Any]
    inputs: list[Input]
    consumed: list[int]
    recovered: list[CallAction]
    """Calls the last checkpoint was waiting for: re-issued, and the ledger decides whether a
    handler really runs (a previous claimant may have died mid-call)."""
    lease_until: datetime
    """When the lease passes as far as this worker knows: the ``now`` of its claim or of its
    last renewal that the database confirmed, plus the lease. No action call starts later."""
    completed: list[tuple[CallAction, ActionResult]] = field(default_factory=list)
    inflight: dict[str, CallAction] = field(default_factory=dict)
    handles: list[asyncio.Future[Any]] = field(default_factory=list)
    """Async handlers' tasks, cancelled if the claim is lost."""
    busy: list[CallAction] = field(default_factory=list)
    busy_rounds: int = 0
    idle_rounds: int = 0
    outcome: Outcome | None = None
    cpu: float = 0.0
    """CPU seconds spent interpreting the run in this claim."""
    heavy: bool = False
    """Interpreted on the worker's interpreter thread, not on the event loop."""
    pending: CheckpointRequest | None = None
    """What the run did since its last checkpoint and did not write yet: calls of repeatable
    actions it went on to make (``worker.grouping``)."""
    group_calls: int = 0
    """Calls made in the pending group."""
    group_started: float = 0.0
    """When the pending group began (the event loop's clock)."""
    group_timer: asyncio.TimerHandle | None = None
    """Writes the pending group once it is as old as it may be."""
    committing: bool = False
    queued: bool = False
    closed: bool = False
