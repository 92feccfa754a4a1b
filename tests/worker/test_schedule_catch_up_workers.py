"""Catching up missed cron slots with more than one worker: two workers firing the same missed
slots at the same time start each slot's run once (each slot's run key is unique; only the
worker whose update still sees the schedule's old slot moves it on), and one pass starts at
most ``CATCH_UP_BATCH`` runs of a schedule (one transaction), the rest on the next passes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from flowpin.clock import FakeClock
from flowpin.engine import Engine
from flowpin.store import tables as t
from flowpin.store.schedules import CATCH_UP_BATCH
from flowpin.worker.timekeeping import fire_schedules


def _daily_all() -> dict:
    return {
        "key": "backfill",
        "triggers": [{"type": "schedule", "cron": "0 9 * * *", "catchUp": "all"}],
        "steps": [{"id": "s", "type": "state.set", "config": {"state": "RAN"}}],
    }


def _slot_keys(engine: Engine) -> list[str]:
    with engine.db.read() as conn:
        return sorted(
            conn.execute(
                sa.select(t.runs.c.idempotency_key).where(t.runs.c.workflow_key == "backfill")
            ).scalars()
        )


def test_two_workers_firing_the_same_missed_slots_start_each_once(
    db_url: str, closing: Callable[[Engine], Engine]
) -> None:
    clock = FakeClock()  # 2026-01-01 00:00 UTC
    first = closing(Engine(db_url, clock=clock))
    second = closing(Engine(db_url, clock=clock))
    first.publish(_daily_all())
    clock.set(datetime(2026, 1, 3, 12, tzinfo=UTC))  # down through three 9:00 slots
    now = clock.now()
    started: dict[str, int] = {}
    first_fired = threading.Event()

    def first_worker() -> None:
        with first.db.write() as conn:
            started["first"] = fire_schedules(conn, now, first.deps.definitions)
            first_fired.set()
            # Hold the transaction open while the second worker fires the same slots: on
            # PostgreSQL it reads the schedule as it was and its inserts wait on this one's
            # keys; on SQLite it waits to begin. The overlap is the point of the test.
            time.sleep(0.5)

    def second_worker() -> None:
        first_fired.wait(10)
        with second.db.write() as conn:
            started["second"] = fire_schedules(conn, now, second.deps.definitions)

    threads = [threading.Thread(target=first_worker), threading.Thread(target=second_worker)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert started == {"first": 3, "second": 0}
    assert _slot_keys(first) == [
        "schedule:0:2026-01-01T09:00:00Z",
        "schedule:0:2026-01-02T09:00:00Z",
        "schedule:0:2026-01-03T09:00:00Z",
    ]
    assert first.next_due() == now  # the three runs, runnable now; the schedule moved on
    with first.db.read() as conn:
        moved = conn.execute(sa.select(t.schedules.c.next_fire_at)).scalar_one()
    assert moved == datetime(2026, 1, 4, 9, tzinfo=UTC)


def test_a_pass_starts_at_most_a_batch_of_missed_slots_and_the_next_pass_goes_on(
    db_url: str, closing: Callable[[Engine], Engine]
) -> None:
    clock = FakeClock()
    engine = closing(Engine(db_url, clock=clock))
    engine.publish(
        {**_daily_all(), "triggers": [{"type": "schedule", "cron": "* * * * *", "catchUp": "all"}]}
    )
    clock.set(clock.now() + timedelta(minutes=250, seconds=30))  # 250 slots missed
    now = clock.now()
    passes = []
    for _ in range(4):
        with engine.db.write() as conn:
            passes.append(fire_schedules(conn, now, engine.deps.definitions))
    assert passes == [CATCH_UP_BATCH, CATCH_UP_BATCH, 50, 0]
    assert len(set(_slot_keys(engine))) == 250
