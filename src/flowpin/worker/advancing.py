"""Interpreting a run the worker drives: ``advance`` under the run's CPU budget for the claim,
and the checkpoint request of what it decided (the new action calls, those to re-issue, those
waiting on another run's hold of their key)."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from flowpin.runtime.decisions import CallAction, Input, Outcome
from flowpin.runtime.interpreter import advance
from flowpin.worker.checkpoint_batch import CheckpointRequest
from flowpin.worker.slot import Slot, WorkerOptions

if TYPE_CHECKING:
    from flowpin.worker.deps import WorkerDeps

HEAVY_REMEMBERED = 10_000


class Advancer:
    """Advances slots for one worker; remembers which runs were heavy (their next claims start
    off the loop) and, within a pass of the loop over the ready runs, the thread's CPU time."""

    def __init__(self, deps: WorkerDeps, options: WorkerOptions) -> None:
        self.deps = deps
        self.options = options
        self.heavy: OrderedDict[str, None] = OrderedDict()
        """Runs that recently needed more than a slice (their next claims start off the loop)."""
        self.cpu_mark: float | None = None
        """The loop thread's CPU time when the last inline ``advance`` of this pass ended."""

    def begin_pass(self) -> None:
        """A pass of the loop over the ready runs begins (see ``advance``'s ``mark``)."""
        self.cpu_mark = time.thread_time()

    def end_pass(self) -> None:
        self.cpu_mark = None

    def advance(self, slot: Slot, inputs: list[Input], mark: float | None = None) -> Outcome:
        """``advance`` under the run's CPU budget for this claim (on the loop: at most a slice
        of it). Thread CPU time is read only once the wall clock says it may be spent.

        ``mark``: in a pass of the loop over the ready runs, the thread's CPU time when the
        previous run's advance ended (``cpu_mark``), so each advance reads the clock once,
        not twice (a system call, ~1 µs); a run is charged the little work of the loop between
        two advances too."""
        options = self.options
        left = options.cpu_budget_seconds - slot.cpu
        allowed = left if slot.heavy else min(left, options.inline_slice_seconds)
        cpu_start = time.thread_time() if mark is None else mark
        deadline = time.perf_counter() + allowed

        def should_yield() -> bool:
            return time.perf_counter() >= deadline and time.thread_time() - cpu_start >= allowed

        try:
            return advance(
                slot.definition,
                slot.state,
                slot.info,
                inputs,
                action_retry=self.deps.action_retry,
                should_yield=should_yield,
                max_steps=self.deps.limits.max_steps_per_run,
            )
        finally:
            ended = time.thread_time()
            slot.cpu += ended - cpu_start
            if mark is not None:
                self.cpu_mark = ended

    @staticmethod
    def only_busy(slot: Slot) -> bool:
        """Nothing new happened: only the ledger is asked again for the busy keys."""
        return bool(slot.busy) and not slot.inputs and slot.outcome is not None

    def next_request(self, slot: Slot, outcome: Outcome | None = None) -> CheckpointRequest:
        """The checkpoint of ``slot``'s next step: ``outcome`` (advanced off the loop), else
        advanced here (in a pass: with ``cpu_mark``)."""
        requeue = False
        if outcome is None and self.only_busy(slot):
            previous = slot.outcome
            assert previous is not None
            outcome = Outcome(
                state=previous.state, status=previous.status, current_steps=previous.current_steps
            )
            new_calls, slot.busy = slot.busy, []
        else:
            if outcome is None:
                outcome = self.advance(slot, slot.inputs, self.cpu_mark)
            if outcome.yielded:
                requeue = self._yielded(slot)
            inflight = slot.inflight
            if not (slot.busy or slot.recovered):  # a step's usual case: its new calls only
                new_calls = [
                    c
                    for c in outcome.commands
                    if isinstance(c, CallAction) and c.token not in inflight
                ]
            else:
                waiting = {c.token for c in slot.busy}
                new_calls = [
                    c
                    for c in outcome.commands
                    if isinstance(c, CallAction)
                    and c.token not in inflight
                    and c.token not in waiting
                ]
                seen = {c.token for c in new_calls} | waiting
                new_calls += [
                    c for c in slot.recovered if c.token not in seen and c.token not in inflight
                ]
                new_calls += slot.busy
                slot.busy = []
                slot.recovered = []
        request = CheckpointRequest(
            run=slot.run,
            outcome=outcome,
            consumed_inbox=slot.consumed,
            completed_calls=slot.completed,
            new_calls=new_calls,
            requeue=requeue,
        )
        slot.outcome = outcome
        slot.state = outcome.state
        slot.inputs = []
        slot.consumed = []
        slot.completed = []
        return request

    def _yielded(self, slot: Slot) -> bool:
        """A run stopped interpreting at its budget: it goes on off the loop, and once its
        budget for the claim is spent it is handed back (True) - unless action calls of it are
        in flight, whose results only this claim can take: then it gets a new budget."""
        if not slot.heavy:
            slot.heavy = True
            self.heavy[slot.run.id] = None
            if len(self.heavy) > HEAVY_REMEMBERED:
                self.heavy.popitem(last=False)
        if slot.cpu < self.options.cpu_budget_seconds:
            return False
        if slot.inflight or slot.busy:
            slot.cpu = 0.0
            return False
        return True
