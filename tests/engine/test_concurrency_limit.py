"""A workflow's ``concurrencyLimit``: at most N of its runs are executing (leased) at once;
parked runs do not count; queued runs are taken in order as slots free; other workflows are
not held back."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from flowpin.clock import FakeClock
from flowpin.engine import Engine
from flowpin.registry.actions import action
from flowpin.registry.catalog import Registry
from flowpin.store import claims
from flowpin.store import tables as t
from flowpin.types import ACTIVE_STATUSES
from flowpin.worker.loop import WorkerOptions
from waiting import wait_until


class Job(BaseModel):
    n: int


class Done(BaseModel):
    n: int


class Meter:
    """What the handler saw: how many handlers ran at once, and how many runs of the workflow
    held a live lease in the database while it ran."""

    engine: Engine | None = None

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.most_leased = 0

    def count_leased(self) -> int:
        assert self.engine is not None
        now = self.engine.clock.now()
        with self.engine.db.read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(t.runs)
                    .where(
                        t.runs.c.workflow_key == "limited",
                        t.runs.c.lease_owner.is_not(None),
                        t.runs.c.lease_expires_at >= now,
                        t.runs.c.status.in_(ACTIVE_STATUSES),
                    )
                ).scalar_one()
            )


METER = Meter()


@action("test.metered", version=1, effect="none")
def metered(job: Job) -> Done:
    with METER.lock:
        METER.now += 1
        METER.most = max(METER.most, METER.now)
    try:
        leased = METER.count_leased()
        with METER.lock:
            METER.most_leased = max(METER.most_leased, leased)
        time.sleep(0.02)  # give other runs the chance to overlap, were they allowed to
    finally:
        with METER.lock:
            METER.now -= 1
    return Done(n=job.n)


LIMITED = {
    "key": "limited",
    "steps": [
        {
            "id": "work",
            "type": "action.call",
            "config": {
                "actionId": "test.metered",
                "version": 1,
                "inputMapping": {"n": {"$expr": "payload.n"}},
                "saveAs": "vars.done",
            },
        },
        {
            "id": "again",
            "type": "action.call",
            "config": {
                "actionId": "test.metered",
                "version": 1,
                "inputMapping": {"n": {"$expr": "payload.n"}},
            },
        },
        {"id": "end", "type": "control.return", "output": {"$expr": "vars.done"}},
    ],
}

WAITER = {
    "key": "waiter",
    "steps": [
        {"id": "wait", "type": "event.wait", "config": {"eventName": "go", "saveAs": "vars.go"}},
        {"id": "end", "type": "control.return", "output": {"$expr": "vars.go"}},
    ],
}

PLAIN = {
    "key": "plain",
    "steps": [{"id": "end", "type": "control.return", "output": 1}],
}


def _engine(url: str, clock: FakeClock | None = None) -> Engine:
    registry = Registry()
    registry.register(metered)
    return Engine(url, registry=registry, clock=clock)


def _claim(engine: Engine, owner: str, limit: int = 100) -> list[Any]:
    with engine.db.write() as conn:
        return claims.claim_runs(conn, owner, engine.clock.now(), 30.0, limit)


def test_claims_stay_within_the_limit_and_free_slots_are_refilled_in_order(db_url: str) -> None:
    clock = FakeClock()
    with _engine(db_url, clock) as engine:
        engine.publish(LIMITED)
        engine.publish(PLAIN)
        engine.update_workflow("limited", concurrencyLimit=2)
        started = []
        for n in range(5):
            started.append(engine.start("limited", {"n": n}))
            clock.advance(timedelta(seconds=1))
        plain = [engine.start("plain", {}) for _ in range(3)]

        first = _claim(engine, "w1")
        # Both slots, the two oldest runs, and every run of the unlimited workflow.
        assert {r.id for r in first if r.workflow_key == "limited"} == set(started[:2])
        assert {r.id for r in first if r.workflow_key == "plain"} == set(plain)
        assert _claim(engine, "w2") == []  # another claimer finds no free slot

        with engine.db.write() as conn:  # one run is given back (as when it parks)
            claims.defer(conn, "w1", started[0], 1, clock.now(), 0)
        again = [r.id for r in _claim(engine, "w2")]
        assert again == [started[2]]  # the oldest queued wake-up takes the free slot

        # Leases that expired free their slots: the worker holding them is gone.
        clock.advance(timedelta(seconds=31))
        taken = {r.id for r in _claim(engine, "w3") if r.workflow_key == "limited"}
        assert len(taken) == 2

        engine.update_workflow("limited", concurrencyLimit=None)  # the rest, at once
        assert {r.id for r in _claim(engine, "w4")} == set(started) - taken


def test_queued_runs_of_a_saturated_workflow_are_not_due(db_url: str) -> None:
    """A worker with nothing to do must not spin on runs waiting for a slot."""
    clock = FakeClock()
    with _engine(db_url, clock) as engine:
        engine.publish(LIMITED)
        engine.update_workflow("limited", concurrencyLimit=1)
        engine.start("limited", {"n": 1})
        engine.start("limited", {"n": 2})
        assert len(_claim(engine, "w1")) == 1
        with engine.db.read() as conn:
            due = claims.next_wakeup(conn, clock.now())
        assert due == clock.now() + timedelta(seconds=30)  # the executing run's lease expiry


def test_parked_runs_do_not_count(db_url: str) -> None:
    with _engine(db_url) as engine:
        engine.publish(WAITER)
        engine.update_workflow("waiter", concurrencyLimit=2)
        runs = [engine.start("waiter", {}, subject=f"s{n}") for n in range(6)]
        engine.run_worker(until_idle=True)
        assert {engine.get_run(r)["status"] for r in runs} == {"WAITING"}
        for n in range(6):
            engine.send_event("go", f"s{n}", {"n": n})
        engine.run_worker(until_idle=True)
        assert [engine.get_run(r)["output"] for r in runs] == [{"n": n} for n in range(6)]


def test_a_limit_of_two_never_executes_more_than_two(db_url: str) -> None:
    METER.__init__()  # type: ignore[misc]
    with _engine(db_url) as engine:
        METER.engine = engine
        engine.publish(LIMITED)
        engine.update_workflow("limited", concurrencyLimit=2)
        runs = [engine.start("limited", {"n": n}) for n in range(10)]
        stop = threading.Event()
        options = WorkerOptions(concurrency=8, poll_seconds=0.05)
        workers = [
            threading.Thread(target=engine.run_worker, kwargs={"options": options, "stop": stop})
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        try:
            wait_until(
                lambda: {engine.get_run(r)["status"] for r in runs} == {"SUCCEEDED"},
                "every run to succeed",
                seconds=60,
            )
        finally:
            stop.set()
            for worker in workers:
                worker.join(10)
        assert [engine.get_run(r)["output"] for r in runs] == [{"n": n} for n in range(10)]
        assert 1 <= METER.most <= 2
        assert METER.most_leased <= 2


def test_concurrent_claimers_share_the_slots(db_url: str) -> None:
    """Claimers racing on the same limited workflow (threads, each its own transaction) take
    two runs between them, not two each."""
    with _engine(db_url) as engine:
        engine.publish(LIMITED)
        engine.update_workflow("limited", concurrencyLimit=2)
        for n in range(10):
            engine.start("limited", {"n": n})
        barrier = threading.Barrier(6)
        taken: list[int] = []

        def claimer(owner: str) -> None:
            barrier.wait(10)
            taken.append(len(_claim(engine, owner)))

        threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(taken) == 6 and sum(taken) == 2
