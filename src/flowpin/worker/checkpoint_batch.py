"""What a batch of checkpoints is made of: per run, the request (the interpreter's outcome and
the calls it settles and issues) and the result (what the worker does next), and the services
the write needs beyond its connection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowpin.definitions.models import Definition
from flowpin.runtime.decisions import ActionResult, CallAction, HistoryEntry, Outcome
from flowpin.store.database import Connection
from flowpin.worker.claimed import ClaimedRun


@dataclass(slots=True)
class CheckpointRequest:
    """One run's part of a batch: its outcome, the inbox rows and action results it consumed,
    and the action calls it issues."""

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
    """What the written checkpoint tells the worker driving the run."""

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


Live = list[tuple[CheckpointRequest, CheckpointResult]]
"""The requests of a batch whose claim still holds (``fence.keep_held``), with their results."""
