"""Checkpoint groups: the calls of repeatable actions are recorded with the run's next
checkpoint, not each in a commit of its own (like Temporal's local activities).

A repeatable action (effect ``none`` or ``idempotent``, not transactional) already gets no
"started" ledger entry before it runs: calling it again changes nothing more, so nothing needs
to be durable before it is called (``worker.call_ledger``). This module takes the next step: a
run whose next step is only such calls goes on to make them without writing a checkpoint
first, and its steps' history rows, ledger results and state are written together by the
run's next checkpoint - at most ``WorkerOptions.group_calls`` calls or ``group_seconds`` later,
or earlier when the run waits, ends, calls a side effect, or anything but a plain call happens.

What this changes for a user: after a crash, the repeatable calls of the unwritten group are
made again (never a side effect's: those are still checkpointed before they are called), and
the run viewer shows the group's steps when they are written. The ledger is still asked first
(one read for all the runs that go on in a pass of the loop): a key that is known - answered
by the ledger after a retry from a step, held by another run - takes the checkpoint's path.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from flowpin.runtime.decisions import CallAction, RunStatus
from flowpin.store.ledger import ledger_entries
from flowpin.worker.call_ledger import repeatable_action
from flowpin.worker.checkpoint_batch import CheckpointRequest
from flowpin.worker.slot import Slot

if TYPE_CHECKING:
    from flowpin.worker.deps import WorkerDeps

Candidates = list[tuple[Slot, CheckpointRequest]]


def merged(earlier: CheckpointRequest, later: CheckpointRequest) -> CheckpointRequest:
    """One checkpoint of two consecutive requests of a run: the later outcome (its state,
    status and outstanding calls), both histories in order, and what both consumed and
    settled. ``new_calls`` are the later request's: the earlier's were made already."""
    outcome = later.outcome
    if earlier.outcome.history:
        outcome = replace(outcome, history=earlier.outcome.history + outcome.history)
    return CheckpointRequest(
        run=later.run,
        outcome=outcome,
        consumed_inbox=earlier.consumed_inbox + later.consumed_inbox,
        completed_calls=earlier.completed_calls + later.completed_calls,
        new_calls=later.new_calls,
        requeue=later.requeue,
    )


class Grouping:
    """Decides which requests may go on unwritten, and asks the ledger about their calls."""

    def __init__(self, deps: WorkerDeps, max_calls: int, seconds: float) -> None:
        self.deps = deps
        self.max_calls = max_calls
        self.seconds = seconds
        self._repeatable: dict[tuple[str, int], bool] = {}

    @property
    def enabled(self) -> bool:
        return self.max_calls > 0 and self.seconds > 0

    def repeatable(self, call: CallAction) -> bool:
        """Calling ``call`` again changes nothing more (``call_ledger.repeatable_action``),
        asked once per action."""
        action = (call.action_id, call.version)
        known = self._repeatable.get(action)
        if known is None:
            spec = self.deps.catalog.action(call.action_id, call.version)
            known = self._repeatable[action] = repeatable_action(spec)
        return known

    def may_defer(self, slot: Slot, request: CheckpointRequest, plain: bool) -> bool:
        """Whether ``request`` may go unwritten for now: the run goes on (RUNNING, not
        yielded), its only news is results of calls, and its new calls are all repeatable
        and fit in the group. ``plain``: the slot had no recovered or busy calls."""
        outcome = request.outcome
        calls = request.new_calls
        if not (plain and calls) or outcome.status is not RunStatus.RUNNING:
            return False
        if outcome.yielded or request.requeue or request.consumed_inbox or slot.heavy:
            return False
        if slot.group_calls + len(calls) > self.max_calls:
            return False
        limit = self.deps.limits.max_steps_per_run
        if limit is not None:  # a run stops right at its step limit (``worker.run_limits``)
            written = int(outcome.state.get("hs", 0))
            grouped = len(slot.pending.outcome.history) if slot.pending is not None else 0
            if written + grouped + len(outcome.history) + len(calls) > limit:
                return False
        for command in outcome.commands:
            if not isinstance(command, CallAction):
                return False
        return all(self.repeatable(call) for call in calls)

    def known_keys(self, candidates: Candidates) -> set[tuple[str, str]]:
        """The ledger's entries among the candidates' calls (one read, a statement per
        tenant), and any key two candidates share: those calls take the checkpoint's path."""
        by_tenant: dict[str, list[str]] = {}
        seen: set[tuple[str, str]] = set()
        known: set[tuple[str, str]] = set()
        for slot, request in candidates:
            tenant = slot.run.tenant_id
            keys = by_tenant.setdefault(tenant, [])
            for call in request.new_calls:
                ident = (tenant, call.idempotency_key)
                if ident in seen:
                    known.add(ident)
                seen.add(ident)
                keys.append(call.idempotency_key)
        with self.deps.db.read() as conn:
            for tenant, keys in by_tenant.items():
                for row in ledger_entries(conn, tenant, keys):
                    known.add((tenant, row.key))
        return known

    @staticmethod
    def answered(slot: Slot, request: CheckpointRequest, known: set[tuple[str, str]]) -> bool:
        """Whether a call of ``request`` has a key the ledger knows, or will know once the
        run's unwritten calls are: one the group made already is answered by its output."""
        tenant = slot.run.tenant_id
        made = request.completed_calls
        if slot.pending is not None:
            made = slot.pending.completed_calls + made
        for call in request.new_calls:
            key = call.idempotency_key
            if (tenant, key) in known or any(done.idempotency_key == key for done, _ in made):
                return True
        return False
