"""The worker: claim runnable runs under a lease, interpret them, checkpoint, call actions.

Shape of the loop (one asyncio event loop per worker):
- the *claimer* claims up to the free slots whenever it is woken (new work in this process, a
  checkpoint that left work, a timer) or its poll interval passes — the poll is a backstop;
- each claimed run is a *slot* driven by callbacks, not by a task of its own: runs that became
  ready (claimed, an action result, a ledger answer) are advanced together in one pass of the
  loop, their checkpoints queued for one commit, and each checkpoint's result dispatches the
  run's action calls; a run leaves when it parks (lease released), finishes, or loses its claim.
  (A task and a few futures per run per step cost more than the step's own work: measured.)
- the *committer* writes the checkpoints of all runs that are ready in one transaction (group
  commit), on the single database thread;
- the *timekeeper* fires due timers and timeouts and schedule slots;
- the *renewer* extends the leases of every run held.

Fairness (SPEC §8 "runaway work is bounded"): a run may spend ``cpu_budget_seconds`` of CPU
interpreting per claim. Then ``advance`` yields: the checkpoint writes its progress and hands the
run back, claimable at once but behind the runs already waiting (its ``wake_at`` is now). A run
that interprets for more than ``inline_slice_seconds`` at a time is *heavy*: its interpretation
moves off the event loop, to the worker's interpreter thread, so the loop keeps driving the
other runs meanwhile (slow expressions release the GIL, see ``flowpin.expressions.jsonata``).
Database work runs on a dedicated thread for PostgreSQL (network round trips), and on the
event loop itself for SQLite (see ``_in_db``).

This module is the loop itself: the claimer, the slots' callbacks and the commit pipeline. Its
parts of one idea each live beside it: ``worker.slot`` (what is known of a run between two
checkpoints; options and stats), ``worker.leases`` (the claim, renewal and release
transactions), ``worker.advancing`` (interpreting a run under its CPU budget, and the
checkpoint request of what it decided), ``worker.transactional`` (handlers that run inside
the transaction that records them) and ``worker.timekeeping`` (due timers and slots, and when
to look for them).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flowpin.observability import metrics
from flowpin.runtime.decisions import ActionResult, CallAction, RunInfo
from flowpin.runtime.interpreter import pending_calls
from flowpin.store import claims
from flowpin.store.database import lost_connection
from flowpin.store.notify import Listener
from flowpin.store.wal import WalCheckpointer
from flowpin.worker import leases
from flowpin.worker.advancing import Advancer
from flowpin.worker.checkpoint import write_checkpoints
from flowpin.worker.checkpoint_batch import CheckpointRequest, CheckpointResult
from flowpin.worker.grouping import Candidates, Grouping, merged
from flowpin.worker.inputs import call_of, input_of, one_per_token
from flowpin.worker.leases import Claimed
from flowpin.worker.slot import Slot, WorkerOptions, WorkerStats
from flowpin.worker.spans import trace_claim
from flowpin.worker.summary import report_while_busy, summary_seconds
from flowpin.worker.timekeeping import TimerWatch, fire_due
from flowpin.worker.transactional import TransactionalCalls

if TYPE_CHECKING:
    from flowpin.worker.deps import WorkerDeps

__all__ = ["Worker", "WorkerOptions", "WorkerStats"]

log = logging.getLogger("flowpin.worker")

BUSY_ROUNDS = 50
"""How many 20 ms rounds a run waits for another run's hold on an idempotency key."""
LEASE_MARGIN = 0.1
"""The share of the lease at its end in which no queued action call starts: a call that starts
then could still be running when the lease passes and another worker takes the run."""


BUSY = 0.05
"""Woken this soon after its last claim, the worker is in a stream of work (see
``WorkerOptions.claim_spacing_seconds``)."""


_heap_frozen = False


def freeze_heap_once() -> None:
    """Move every object alive when the process's first worker starts (its imported modules,
    classes and functions, the registry, the engine: tens of thousands of objects that live as
    long as the process) out of the cyclic garbage collector's sight, once per process
    (``gc.freeze``). A full collection scans the whole heap: ~30 ms on the event loop per pass
    for a worker that imported flowpin's stack, several per 10,000 steps (measured: ~10 % of a
    W1 cold-to-done; a pass found a few dozen collectable objects). Frozen objects are still
    freed when their last reference goes; only a cycle among them that became garbage would stay
    (once per process, so bounded by what the process held at that moment)."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()


class Worker:
    def __init__(
        self, deps: WorkerDeps, options: WorkerOptions | None = None, name: str | None = None
    ):
        self.deps = deps
        self.options = options or WorkerOptions()
        self.owner = name or f"w-{uuid.uuid4().hex[:12]}"
        self.stats = WorkerStats()
        self._active: dict[str, Slot] = {}
        self._ready: list[Slot] = []
        self._step_scheduled = False
        self._queue: list[tuple[Slot, CheckpointRequest]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._transactional = TransactionalCalls(
            deps,
            self.owner,
            in_db=self._in_db,
            spawn=self._spawn,
            on_result=self._on_result,
            close=self._close,
        )
        self._advancer = Advancer(deps, self.options)
        self._grouping = Grouping(deps, self.options.group_calls, self.options.group_seconds)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._commit_wake: asyncio.Event | None = None
        # On PostgreSQL the worker's transactions run here one at a time, on a connection
        # this thread keeps (no pool checkout with its liveness ping per transaction).
        self._db = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="flowpin-db",
            initializer=deps.db.keep_writes_on_this_thread,
        )
        self._interpreter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowpin-cpu")
        self._db_inline = not deps.db.dialect.concurrent_writers
        self._timers = TimerWatch()
        self._lease_margin = timedelta(seconds=self.options.lease_seconds * LEASE_MARGIN)
        """How long before its lease passes a worker stops starting a run's queued calls."""
        self._stopping = False
        self._pass_now: datetime | None = None
        """The clock read once in a pass of the loop over the ready runs (``_may_defer``)."""

    # ------------------------------------------------------------------ public

    async def run(self, *, until_idle: bool = False, stop: asyncio.Event | None = None) -> None:
        freeze_heap_once()
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        self._commit_wake = asyncio.Event()
        unsubscribe = self.deps.wakeups.subscribe(lambda: loop.call_soon_threadsafe(self._wake_up))
        listener = None
        if self.deps.db.dialect.notifies and not until_idle:  # a pass over due work needs no ear
            listener = Listener(self.deps.db.url, lambda: loop.call_soon_threadsafe(self._wake_up))
            listener.start()
        checkpointer = None
        if self.deps.db.is_sqlite and self.deps.db.engine.url.database:
            checkpointer = WalCheckpointer(self.deps.db.engine.url.database).start()
        committer = asyncio.create_task(self._committer())
        renewer = asyncio.create_task(self._renewer())
        reporter = asyncio.create_task(report_while_busy(self, summary_seconds()))
        log.info(
            "worker %s started (up to %d runs at once, lease %.0f s)",
            self.owner,
            self.options.concurrency,
            self.options.lease_seconds,
            extra={"worker": self.owner},
        )
        try:
            await self._main(until_idle, stop)
        finally:
            self._stopping = True
            for slot in list(self._active.values()):
                if slot.pending is not None and not slot.committing:
                    self._enqueue(slot, None)  # what the run did is written, not repeated
                self._close(slot)
            await asyncio.gather(*self._background, return_exceptions=True)
            await self._drain_commits()
            committer.cancel()
            renewer.cancel()
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            unsubscribe()
            if listener is not None:
                await asyncio.get_running_loop().run_in_executor(None, listener.stop)
            try:
                await self._in_db(leases.release_all, self.deps, self.owner)
            finally:
                await self._in_db(self.deps.db.release_kept_write)
                self._db.shutdown(wait=True)
            self._interpreter.shutdown(wait=True)
            if checkpointer is not None:
                checkpointer.stop()

    def held_runs(self) -> list[str]:
        """Ids of the runs this worker holds now."""
        return list(self._active)

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # ------------------------------------------------------------------ main loop

    async def _main(self, until_idle: bool, stop: asyncio.Event | None) -> None:
        assert self._wake is not None
        while stop is None or not stop.is_set():
            self._wake.clear()
            fired = 0
            if self._timers.may_be_due(self.deps.clock.now()):
                fired = await self._in_db_patiently(stop, self._fire_due)
            free = self.options.concurrency - len(self._active)
            asked = min(free, self.options.claim_batch)
            claimed = await self._in_db_patiently(stop, self._claim, free) if free > 0 else []
            last_claim = time.monotonic()
            for one in claimed:
                self.stats.claimed += 1
                self._adopt(one)
            # Fewer than asked: nothing else is claimable now (what becomes so wakes us).
            if fired or (claimed and len(claimed) >= asked):
                continue
            if until_idle and not self._active:
                next_due = await self._in_db_patiently(stop, self._next_wakeup)
                now = self.deps.clock.now()
                if next_due is None or next_due > now:
                    return
                self._timers.look_again()
                continue
            timeout = self.options.poll_seconds
            if not self._active:
                next_due = await self._in_db_patiently(stop, self._next_wakeup)
                if next_due is not None:
                    delta = (next_due - self.deps.clock.now()).total_seconds()
                    timeout = max(0.0, min(timeout, delta))
            waiters = [asyncio.create_task(self._wake.wait())]
            if stop is not None:
                waiters.append(asyncio.create_task(stop.wait()))
            done, pending = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()
            if not done:  # the poll: the backstop for timers other processes made
                self._timers.look_again()
            elif (stop is None or not stop.is_set()) and time.monotonic() - last_claim < BUSY:
                # Woken while busy: gather what else comes before claiming (options).
                await asyncio.sleep(self.options.claim_spacing_seconds)

    # ------------------------------------------------------------------ database helpers

    async def _in_db(self, fn: Any, *args: Any) -> Any:
        if self._db_inline:
            # SQLite: one writer at a time and no network wait, so the statements run on the
            # event loop itself; handing them to a thread cost more in GIL hand-offs than it
            # overlapped (measured: W1 3.0k → 4.6k steps/s with the calls inline).
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, fn, *args)

    async def _in_db_patiently(self, stop: asyncio.Event | None, fn: Any, *args: Any) -> Any:
        """``_in_db`` for the main loop, which must outlive a database restart or a network
        blip: on a lost or refused connection it waits (0.1 s doubling to 2 s) and tries again,
        until the database answers or the worker is asked to stop. Each call is one whole
        transaction, so trying it again is safe: a timer or slot fires once whoever tries, and
        runs of a claim whose commit went unacknowledged are claimed again when it lapses."""
        delay = 0.1
        while True:
            try:
                return await self._in_db(fn, *args)
            except Exception as exc:
                if not lost_connection(exc) or (stop is not None and stop.is_set()):
                    raise
                reason = getattr(exc, "orig", exc)
                log.warning("database unavailable (%s); retrying in %.1f s", reason, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _claim(self, limit: int) -> list[Claimed]:
        options = self.options
        return leases.claim(
            self.deps, self.owner, limit, options.lease_seconds, options.claim_batch
        )

    def _fire_due(self) -> int:
        now = self.deps.clock.now()
        with self.deps.db.write() as conn:
            fired = fire_due(conn, now, self.deps.definitions)
            next_timer = claims.next_timer(conn)
        self._timers.looked(next_timer)
        self.stats.timers_fired += fired
        return fired

    def _next_wakeup(self) -> datetime | None:
        with self.deps.db.read() as conn:
            return claims.next_wakeup(conn, self.deps.clock.now())

    def _write(self, requests: list[CheckpointRequest]) -> list[CheckpointResult]:
        now = self.deps.clock.now()
        began = time.perf_counter()
        with self.deps.db.write() as conn:
            results = write_checkpoints(conn, requests, self.deps.services(self.owner), now)
        metrics.CHECKPOINT_COMMIT_SECONDS.observe(time.perf_counter() - began)
        metrics.CHECKPOINT_BATCH.observe(len(requests))
        return results

    # ------------------------------------------------------------------ group commit

    async def _committer(self) -> None:
        assert self._commit_wake is not None
        while True:
            await self._commit_wake.wait()
            self._commit_wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._queue:
            batch = self._queue[: self.options.max_commit_batch]
            del self._queue[: len(batch)]
            try:
                results = await self._in_db(self._write, [request for _slot, request in batch])
            except Exception:
                log.exception("checkpoint batch failed")
                for slot, _request in batch:
                    self._close(slot)  # the claims lapse; the runs are picked up again
                continue
            self.stats.commits += 1
            self.stats.checkpoints += len(batch)
            self._timers.expect(request.outcome for _slot, request in batch)
            finished = self.stats.finished
            for (slot, _request), result in zip(batch, results, strict=True):
                if slot.closed:
                    continue
                try:
                    self._after_checkpoint(slot, result)
                except Exception:
                    log.exception("driving run %s failed", slot.run.id)
                    self._close(slot)
            if self.stats.finished != finished:
                self.deps.wakeups.notify()  # once per batch: parents and waiters may have work now

    async def _drain_commits(self) -> None:
        with contextlib.suppress(Exception):
            await self._flush()

    async def _renewer(self) -> None:
        interval = max(0.05, self.options.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            slots = list(self._active.values())
            if slots:
                now = self.deps.clock.now()
                lease_until = now + timedelta(seconds=self.options.lease_seconds)

                with contextlib.suppress(Exception):
                    renewed = await self._in_db(
                        leases.renew,
                        self.deps,
                        self.owner,
                        [slot.run.id for slot in slots],
                        now,
                        self.options.lease_seconds,
                    )
                    for slot in slots:  # only a renewal of this very claim extends it
                        if renewed.get(slot.run.id) == slot.run.claim_count:
                            slot.lease_until = max(slot.lease_until, lease_until)

    # ------------------------------------------------------------------ driving runs

    def _adopt(self, claimed: Claimed) -> None:
        deps = self.deps
        run, definition, inbox, started = (
            claimed.run,
            claimed.definition,
            claimed.inbox,
            claimed.started,
        )
        slot = Slot(
            run=run,
            definition=definition,
            info=RunInfo(
                run_id=run.id,
                workflow_key=run.workflow_key,
                version=run.version_number,
                subject=run.subject,
                started_at=run.created_at,
                tenant_id=run.tenant_id,
            ),
            context={
                "secret_steps": deps.definitions.secret_steps(run.version_id, definition),
                "run_id": run.id,
                "workflow_key": run.workflow_key,
                "version": run.version_number,
                "tenant_id": run.tenant_id,
                "traceparent": run.state.get("tp"),
                "fence": run.claim_count,
            },
            state=run.state,
            inputs=[input_of(row) for row in inbox],
            consumed=[row.id for row in inbox],
            recovered=one_per_token(
                pending_calls(definition, run.state) + [call_of(row) for row in started]
            ),
            heavy=run.id in self._advancer.heavy,
            lease_until=claimed.lease_until,
        )
        self._active[run.id] = slot
        trace_claim(run, self.owner)
        self._make_ready(slot)

    def _make_ready(self, slot: Slot) -> None:
        """Advance ``slot`` in the loop's next pass (with every other run ready by then); a
        run whose checkpoint is being written is looked at again when it is written."""
        if slot.closed or slot.committing or slot.queued or self._stopping:
            return
        slot.queued = True
        self._ready.append(slot)
        if not self._step_scheduled:
            self._step_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._step_ready)

    def _step_ready(self) -> None:
        self._step_scheduled = False
        ready, self._ready = self._ready, []
        candidates: Candidates = []
        grouping = self._grouping.enabled
        self._pass_now = None
        self._advancer.begin_pass()
        for slot in ready:
            slot.queued = False
            if slot.closed:
                continue
            if slot.heavy and not self._advancer.only_busy(slot):
                slot.committing = True  # nothing else drives it until its checkpoint is written
                self._spawn(self._advance_apart(slot))
                continue
            plain = not (slot.busy or slot.recovered)
            try:
                request = self._advancer.next_request(slot)
            except Exception:
                log.exception("driving run %s failed", slot.run.id)
                self._close(slot)
                continue
            if grouping and self._may_defer(slot, request, plain):
                candidates.append((slot, request))
                continue
            self._enqueue(slot, request)
        self._advancer.end_pass()
        if candidates:
            self._defer(candidates)
        if self._queue:
            assert self._commit_wake is not None
            self._commit_wake.set()

    async def _advance_apart(self, slot: Slot) -> None:
        """Interpret a heavy run on the interpreter thread; the loop drives other runs
        meanwhile. What arrives for the run in the meantime waits for its next turn."""
        inputs, slot.inputs = slot.inputs, []
        consumed, slot.consumed = slot.consumed, []
        completed, slot.completed = slot.completed, []
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(
                self._interpreter, self._advancer.advance, slot, inputs
            )
        except Exception:
            log.exception("driving run %s failed", slot.run.id)
            self._close(slot)
            return
        if slot.closed:
            return
        arrived = slot.inputs, slot.consumed, slot.completed
        slot.consumed, slot.completed = consumed, completed
        try:
            request = self._advancer.next_request(slot, outcome)
        except Exception:
            log.exception("driving run %s failed", slot.run.id)
            self._close(slot)
            return
        slot.inputs, slot.consumed, slot.completed = arrived
        self._enqueue(slot, request)
        assert self._commit_wake is not None
        self._commit_wake.set()

    def _after_checkpoint(self, slot: Slot, result: CheckpointResult) -> None:
        slot.committing = False
        if result.lost:
            self._close(slot)
            return
        outcome = slot.outcome
        assert outcome is not None
        if outcome.status.terminal:
            self.stats.finished += 1
            self._close(slot)
            return
        if self._stopping:
            return
        self._dispatch(slot, result.execute)
        slot.inputs.extend(result.ledger_hits)
        slot.busy = list(result.busy)
        for row in result.inbox:
            slot.inputs.append(input_of(row))
            slot.consumed.append(row.id)
        if result.released:
            if outcome.yielded:
                self.stats.yields += 1
            self._close(slot)
            return
        if slot.inputs:
            self._make_ready(slot)
            return
        assert self._loop is not None
        if outcome.yielded:  # more to interpret: after the runs that are ready now
            slot.idle_rounds = 0
            self._loop.call_soon(self._make_ready, slot)
            return
        if slot.busy and not slot.inflight:
            slot.busy_rounds += 1
            if slot.busy_rounds > BUSY_ROUNDS:
                # The key's holder is slow or dead: give the run back and look again once the
                # holder's lease may have expired, instead of spinning here.
                self._close(slot)
                seconds = self.options.lease_seconds / 3
                self._spawn(self._in_db(leases.defer, self.deps, self.owner, slot.run, seconds))
                return
            self._loop.call_later(0.02, self._make_ready, slot)
            return
        if not slot.inflight:
            slot.idle_rounds += 1
            if slot.idle_rounds > 2:
                # Nothing outstanding, nothing arrived, and it did not park: leave the run to
                # lease expiry rather than spin.
                log.error("run %s made no progress (status %s)", slot.run.id, outcome.status)
                self._close(slot)
                return
            self._make_ready(slot)
            return
        slot.idle_rounds = 0
        if slot.busy:
            self._loop.call_later(0.02, self._make_ready, slot)

    def _dispatch(self, slot: Slot, calls: list[CallAction]) -> None:
        """Make ``slot``'s calls: each handler gets its result back to ``_on_result``."""
        executor = self.deps.executor
        for call in calls:
            self.stats.actions_called += 1
            slot.inflight[call.token] = call
            if executor.is_transactional(call):
                self._transactional.add(slot, call)
                continue
            handle = executor.submit(
                call,
                slot.context,
                lambda r, s=slot, c=call: self._on_result(s, c, r),
                may_start=lambda s=slot: self._may_start(s),
                on_dropped=lambda s=slot: self._not_started(s),
            )
            if handle is not None:
                slot.handles.append(handle)

    # ------------------------------------------------------------------ checkpoint groups

    def _enqueue(self, slot: Slot, request: CheckpointRequest | None) -> None:
        """Queue ``slot``'s checkpoint for the next commit, with the group it has not
        written yet (``request`` None: the group alone)."""
        pending = slot.pending
        if pending is not None:
            slot.pending = None
            slot.group_calls = 0
            if slot.group_timer is not None:
                slot.group_timer.cancel()
                slot.group_timer = None
            request = pending if request is None else merged(pending, request)
        assert request is not None
        slot.committing = True
        self._queue.append((slot, request))

    def _may_defer(self, slot: Slot, request: CheckpointRequest, plain: bool) -> bool:
        if self._stopping or not self._grouping.may_defer(slot, request, plain):
            return False
        if slot.pending is not None:
            assert self._loop is not None
            if self._loop.time() - slot.group_started >= self.options.group_seconds:
                return False
        if self._pass_now is None:  # once per pass of the loop (a system call each)
            self._pass_now = self.deps.clock.now()
        return self._pass_now < slot.lease_until - self._lease_margin

    def _defer(self, candidates: Candidates) -> None:
        """The candidates' calls are made without a checkpoint first, once the ledger says
        it knows none of their keys (on SQLite at once; else on the database thread)."""
        for slot, _request in candidates:
            slot.committing = True  # nothing else drives it until the ledger has answered
        if self._db_inline:
            self._go_on(candidates, self._grouping.known_keys(candidates))
        else:
            self._spawn(self._defer_apart(candidates))

    async def _defer_apart(self, candidates: Candidates) -> None:
        try:
            known = await self._in_db(self._grouping.known_keys, candidates)
        except Exception:
            log.exception("asking the ledger failed")
            for slot, _request in candidates:
                self._close(slot)  # the claims lapse; the runs are picked up again
            return
        self._go_on(candidates, known)

    def _go_on(self, candidates: Candidates, known: set[tuple[str, str]]) -> None:
        """Each candidate whose calls the ledger does not know makes them now and keeps
        what it did for its next checkpoint; the others are checkpointed as usual."""
        assert self._loop is not None
        for slot, request in candidates:
            slot.committing = False
            if slot.closed:
                if self._stopping and slot.pending is not None:
                    self._enqueue(slot, None)  # the stopping worker writes it (``run``)
                continue
            if self._grouping.answered(slot, request, known):
                self._enqueue(slot, request)
                continue
            calls = request.new_calls
            if slot.pending is None:
                request.new_calls = []
                slot.pending = request
                slot.group_started = self._loop.time()
                slot.group_timer = self._loop.call_later(
                    self.options.group_seconds, self._write_group, slot
                )
            else:
                slot.pending = merged(slot.pending, request)
                slot.pending.new_calls = []
                if slot.group_timer is None:  # it came due while the ledger was asked
                    slot.group_timer = self._loop.call_later(0, self._write_group, slot)
            slot.group_calls += len(calls)
            self._dispatch(slot, calls)
            if slot.inputs:  # a result of another branch arrived meanwhile
                self._make_ready(slot)
        if self._queue:
            assert self._commit_wake is not None
            self._commit_wake.set()

    def _write_group(self, slot: Slot) -> None:
        """A group is as old as it may be: written now, unless the run is about to be
        advanced or checkpointed anyway (which then writes it)."""
        slot.group_timer = None
        if slot.closed or slot.pending is None or slot.committing or slot.queued:
            return
        self._enqueue(slot, None)
        assert self._commit_wake is not None
        self._commit_wake.set()

    def _on_result(self, slot: Slot, call: CallAction, result: ActionResult) -> None:
        if slot.closed or slot.inflight.pop(call.token, None) is None:
            return
        slot.inputs.append(result)
        slot.completed.append((call, result))
        if slot.handles:
            slot.handles = [handle for handle in slot.handles if not handle.done()]
        self._make_ready(slot)

    def _may_start(self, slot: Slot) -> bool:
        """Whether a queued call of ``slot`` may start now (asked in the action's thread):
        only while the worker holds the run and, as far as it knows, its lease has not passed
        (less a margin) - else another worker may have claimed the run, and two would drive it.
        """
        if slot.closed:
            return False
        return self.deps.clock.now() < slot.lease_until - self._lease_margin

    def _not_started(self, slot: Slot) -> None:
        """A queued call of ``slot`` was dropped unstarted: if the worker still holds the run,
        its lease may have passed, so it lets go (the call is made by the run's next claimant;
        its ledger entry, "started" by this claim, is reclaimed as this run's own)."""
        if slot.closed:
            return
        log.warning(
            "let go of run %s: its lease may have passed before a queued action call started",
            slot.run.id,
            extra={"run_id": slot.run.id, "workflow": slot.run.workflow_key},
        )
        self._close(slot)

    def _close(self, slot: Slot) -> None:
        """The worker lets go of the run (parked, finished, lost, or left to its lease), and
        cancels the async handlers it still runs for it: nobody will read their results (a
        run that ended while a branch waited on a call, or one whose checkpoint failed and
        whose next claimant makes the call again). A queued sync call is dropped unstarted
        (``_may_start``); one already running cannot be stopped."""
        if slot.closed:
            return
        slot.closed = True
        for handle in slot.handles:
            handle.cancel()
        if slot.group_timer is not None:
            slot.group_timer.cancel()
        if self._active.get(slot.run.id) is slot:
            del self._active[slot.run.id]
        if self._wake is not None:
            self._wake.set()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
