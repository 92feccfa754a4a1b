"""Transactional actions: handlers that run inside the write transaction that records their
result, a batch of due calls per transaction, each fenced by its run's claim."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from flowpin.runtime.decisions import ActionResult, CallAction
from flowpin.store import ledger
from flowpin.worker.slot import Slot

if TYPE_CHECKING:
    from flowpin.worker.deps import WorkerDeps

log = logging.getLogger("flowpin.worker")


class TransactionalCalls:
    """The worker's queue of transactional calls: ``add`` a call, and it runs with the others
    due by then; its result goes to ``on_result``, a lost claim or a failed transaction to
    ``close`` (the claims lapse; the calls run again later)."""

    def __init__(
        self,
        deps: WorkerDeps,
        owner: str,
        *,
        in_db: Callable[..., Awaitable[Any]],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        on_result: Callable[[Slot, CallAction, ActionResult], None],
        close: Callable[[Slot], None],
    ) -> None:
        self.deps = deps
        self.owner = owner
        self._in_db = in_db
        self._spawn = spawn
        self._on_result = on_result
        self._close = close
        self._queue: list[tuple[Slot, CallAction]] = []
        self._running = False

    def add(self, slot: Slot, call: CallAction) -> None:
        self._queue.append((slot, call))
        if not self._running:
            self._running = True
            self._spawn(self._run())

    async def _run(self) -> None:
        """Call the transactional handlers that are due, a batch per write transaction."""
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._in_db(self._transact, batch)
                except Exception:
                    log.exception("a transaction of transactional actions failed")
                    for slot, _call in batch:
                        self._close(slot)  # the claims lapse; the calls run again later
                    continue
                for (slot, call), result in zip(batch, results, strict=True):
                    if result is None:
                        self._close(slot)
                    else:
                        self._on_result(slot, call, result)
        finally:
            self._running = False

    def _transact(self, batch: list[tuple[Slot, CallAction]]) -> list[ActionResult | None]:
        """Each handler in a savepoint of one write transaction, fenced by its run's claim;
        a success marks its ledger entry succeeded in the same transaction, an error rolls
        the handler's writes back (the next checkpoint records the failure). ``None``: the
        claim was lost, nothing ran."""
        results: list[ActionResult | None] = []
        now = self.deps.clock.now()
        with self.deps.db.write() as conn:
            for slot, call in batch:
                if slot.closed or not ledger.holds(
                    conn, self.owner, slot.run.id, slot.run.claim_count
                ):
                    results.append(None)
                    continue
                savepoint = conn.begin_nested()
                try:
                    result = self.deps.executor.run_in_transaction(call, slot.context, conn)
                    if result.error is not None:
                        savepoint.rollback()
                    else:
                        ledger.ledger_succeeded(conn, slot.run, call, result.output, now)
                        savepoint.commit()
                except BaseException:
                    savepoint.rollback()
                    raise
                results.append(result)
        return results
