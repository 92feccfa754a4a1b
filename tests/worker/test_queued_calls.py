"""A sync action call queued behind a busy thread pool starts only while its worker holds the
run: not after the worker let go of it, and not once the lease the worker knows of has passed -
by then another worker may have claimed the run, and two workers would drive it (what the
PostgreSQL restart test once saw: calls that started after their worker's claim lapsed).

The pool has one thread and its first call blocks, so the calls behind it wait in the queue
for as long as the test wants. Real SQLite file, real worker; a fence the handler reads from
``ctx.fence`` says which claim made each call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from builders import action_call, workflow
from flowpin.clock import Clock, FakeClock, SystemClock
from flowpin.engine import Engine
from flowpin.registry.actions import ActionContext, action
from flowpin.registry.catalog import Registry
from flowpin.store import tables as t
from flowpin.worker.executor import ActionExecutor
from flowpin.worker.loop import Worker, WorkerOptions
from waiting import wait_until

QUEUED = 5

BLOCKING = threading.Event()
RELEASE = threading.Event()
STARTED: list[tuple[str, int | None]] = []
"""(run, fence) of each ``queued.effect`` call, as it starts."""


class Nothing(BaseModel):
    pass


@action("queued.block", version=1, effect="side_effect")
def block(data: Nothing) -> Nothing:
    """Holds the pool's only thread until the test releases it."""
    BLOCKING.set()
    RELEASE.wait(30)
    return Nothing()


@action("queued.effect", version=1, effect="side_effect")
def effect(data: Nothing, ctx: ActionContext) -> Nothing:
    STARTED.append((ctx.run_id, ctx.fence))
    return Nothing()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    BLOCKING.clear()
    RELEASE.clear()
    STARTED.clear()
    yield
    RELEASE.set()  # a failed test must not leave a handler blocked


def _engine(url: str, clock: Clock) -> Engine:
    registry = Registry()
    registry.register(block)
    registry.register(effect)
    engine = Engine(url, registry=registry, clock=clock)
    engine.publish(workflow("blocker", action_call("b", "queued.block")))
    engine.publish(workflow("queued", action_call("e", "queued.effect")))
    return engine


class _OneThreadWorker:
    """A worker whose action pool has one thread, run in a thread of its own until stopped."""

    def __init__(self, engine: Engine) -> None:
        deps = engine.deps
        self.executor = ActionExecutor(deps.catalog, deps.clock, deps.executor.secrets, threads=1)
        self.worker = Worker(
            dataclasses.replace(deps, executor=self.executor), WorkerOptions(poll_seconds=0.05)
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self.thread.start()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        self.stop_watch = threading.Thread(
            target=lambda: (self.stop.wait(), loop.call_soon_threadsafe(stopping.set)),
            daemon=True,
        )
        self.stop_watch.start()
        await self.worker.run(stop=stopping)

    def drained(self) -> None:
        """Returns once every call queued in the pool so far has run or been dropped."""
        self.executor.pool.submit(lambda: None).result(30)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        self.executor.close()


def _queue_calls_behind_a_blocked_thread(engine: Engine) -> list[str]:
    engine.start("blocker", {})
    wait_until(BLOCKING.is_set, "the blocking call to start")
    queued = [engine.start("queued", {}) for _ in range(QUEUED)]
    wait_until(lambda: _started_entries(engine) == QUEUED + 1, "the queued calls to be issued")
    return queued


def _started_entries(engine: Engine) -> int:
    with engine.db.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(t.action_ledger)
                .where(t.action_ledger.c.status == "started")
            ).scalar_one()
        )


def _lease_owners(engine: Engine, runs: list[str]) -> set[str | None]:
    with engine.db.read() as conn:
        return set(
            conn.execute(sa.select(t.runs.c.lease_owner).where(t.runs.c.id.in_(runs))).scalars()
        )


def test_queued_calls_do_not_start_after_the_worker_let_go_of_their_runs(
    sqlite_url: str,
) -> None:
    with _engine(sqlite_url, SystemClock()) as engine:
        worker = _OneThreadWorker(engine)
        try:
            queued = _queue_calls_behind_a_blocked_thread(engine)
            worker.stop.set()  # the worker lets go of every run it holds …
            worker.thread.join(30)
            assert _lease_owners(engine, queued) == {None}
            RELEASE.set()  # … and then the thread is free for the calls queued behind
            worker.drained()
        finally:
            worker.close()

        assert STARTED == []  # none started for a run the worker no longer held

        engine.run_worker(until_idle=True)  # the next claimant makes the calls, once each
        assert sorted(STARTED) == sorted((run, 2) for run in queued)
        assert {engine.get_run(run)["status"] for run in queued} == {"SUCCEEDED"}


def test_queued_calls_do_not_start_once_the_lease_has_passed(sqlite_url: str) -> None:
    clock = FakeClock()
    with _engine(sqlite_url, clock) as engine:
        worker = _OneThreadWorker(engine)
        try:
            queued = _queue_calls_behind_a_blocked_thread(engine)
            # The lease (30 s) passes with no renewal the worker knows of - as when the
            # database is away: another worker may claim the runs now (this one may too).
            clock.advance(31)
            RELEASE.set()
            worker.drained()
            wait_until(
                lambda: {engine.get_run(run)["status"] for run in queued} == {"SUCCEEDED"},
                "the runs to finish under a new claim",
            )
        finally:
            worker.close()

    # The calls queued under the first claim never started; each run's call was made once,
    # under the claim that took the run after the lease passed.
    assert sorted(STARTED) == sorted((run, 2) for run in queued)
