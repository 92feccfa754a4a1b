"""Timekeeping and wake-ups that a PostgreSQL fleet relies on (each also runs on SQLite where it
applies): due waits of every kind fire together in one set-based pass, the partial indexes of
migration 0004, history order of a batch, and the listener's deadlines (a timer's NOTIFY wakes
a worker at the timer's moment, not at once)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import sqlalchemy as sa

from builders import HOUR_MS, event_wait, human_task, state_set, time_wait, workflow
from flowpin.engine import Engine
from flowpin.store import tables as t
from flowpin.store.database import Database
from flowpin.store.notify import CHANNEL, Deadlines, Listener, due_of, signal_work
from flowpin.worker.loop import WorkerOptions
from waiting import wait_until


def napper(hours: int) -> dict:
    return workflow(f"nap{hours}", time_wait("nap", hours * HOUR_MS), state_set("done", "DONE"))


def waiter() -> dict:
    return workflow(
        "waiter",
        event_wait("wait", "go", timeoutMs=HOUR_MS, onTimeout="continue"),
        state_set("late", "LATE"),
    )


def asker() -> dict:
    return workflow("asker", human_task("ask", timeoutMs=HOUR_MS))


def test_due_waits_of_every_kind_fire_together_and_later_ones_stay_open(harness) -> None:
    engine = harness.engine
    for definition in (napper(1), napper(3), waiter(), asker()):
        engine.publish(definition)
    timers = [engine.start("nap1", {}) for _ in range(40)]
    later = [engine.start("nap3", {}) for _ in range(5)]
    waiting = [engine.start("waiter", {}) for _ in range(10)]
    asking = [engine.start("asker", {}) for _ in range(5)]
    harness.work()
    harness.clock.advance(timedelta(hours=1, seconds=1))
    harness.work()

    runs = {run_id: engine.get_run(run_id) for run_id in timers + later + waiting + asking}
    assert all(runs[r]["status"] == "SUCCEEDED" for r in timers)
    assert all(runs[r]["state"]["meta"].get("state") != "DONE" for r in later)
    assert all(runs[r]["status"] == "WAITING" for r in later)
    assert all(runs[r]["status"] == "SUCCEEDED" for r in waiting)
    assert all(runs[r]["status"] == "FAILED" for r in asking)
    assert {task["runId"] for task in engine.list_tasks(status="timed_out")} == set(asking)
    with engine.db.read() as conn:
        inbox_left = conn.execute(sa.select(sa.func.count()).select_from(t.run_inbox)).scalar()
        open_waits = conn.execute(
            sa.select(t.waits.c.run_id).where(t.waits.c.status == "open")
        ).scalars()
        assert inbox_left == 0
        assert set(open_waits) == set(later)
        history = conn.execute(
            sa.select(t.step_history.c.run_id).where(
                t.step_history.c.step_id == "nap", t.step_history.c.status == "succeeded"
            )
        ).scalars()
        fired = list(history)
    assert sorted(fired) == sorted(timers)  # each timer resumed its run exactly once


def test_runs_due_and_leased_use_partial_indexes(db_url: str) -> None:
    database = Database(db_url)
    try:
        database.upgrade()
        indexes = {ix["name"] for ix in sa.inspect(database.engine).get_indexes("runs")}
    finally:
        database.dispose()
    assert {"ix_runs_due", "ix_runs_leased"} <= indexes
    assert "ix_runs_wake" not in indexes


def test_history_of_many_steps_in_one_checkpoint_keeps_its_order(harness) -> None:
    steps = [{"id": f"p{i}", "type": "state.set", "config": {"state": f"S{i}"}} for i in range(30)]
    run = harness.run({"key": "many", "steps": steps})
    assert run["status"] == "SUCCEEDED"
    order = [entry["stepId"] for entry in harness.engine.history(run["runId"])]
    assert order == [f"p{i}" for i in range(30)]


# --------------------------------------------------------------------------- deadlines


def test_deadlines_keep_future_ones_earliest_first_and_bounded() -> None:
    deadlines = Deadlines(horizon=100, limit=3)
    assert deadlines.add(5, now=10) is False  # already due: wake now
    for due in (40, 20, 30, 20, 500):  # a duplicate and one beyond the horizon
        assert deadlines.add(due, now=10)
    assert deadlines.next() == 20
    deadlines.add(15, now=10)  # full: the latest (40) gives way
    assert deadlines.pop_due(25) is True
    assert deadlines.next() == 30
    assert deadlines.pop_due(35) is True
    assert deadlines.next() is None
    assert deadlines.pop_due(1000) is False


def test_payloads_name_a_deadline_or_mean_now() -> None:
    assert due_of("") is None
    assert due_of("due:1500") == 1.5
    assert due_of("due:soon") is None
    assert due_of("something-else") is None


def pg_only(db_url: str) -> str:
    if db_url.startswith("sqlite"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite wakes in-process")
    return db_url


@pytest.fixture
def quiet_pg(db_url: str):
    """A database of its own: NOTIFY is per database, and other tests share the test one."""
    pg_only(db_url)
    import uuid

    base = sa.make_url(db_url).set(query={})
    name = f"flowpin_quiet_{uuid.uuid4().hex[:10]}"
    admin = base.render_as_string(hide_password=False).replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_deadline_notification_wakes_at_the_deadline_not_at_once(quiet_pg: str) -> None:
    wakes: list[float] = []
    listener = Listener(quiet_pg, lambda: wakes.append(time.time()))
    listener.start()
    database = Database(quiet_pg)
    try:
        wait_until(
            lambda: len(wakes) >= 1, "the wake-up after connecting", seconds=10
        )  # the wake-up after connecting
        due = datetime.now(UTC) + timedelta(milliseconds=800)
        with database.write() as conn:
            signal_work(conn, due)
        wait_until(lambda: len(wakes) >= 2, "the second wake-up", seconds=10)
        assert wakes[1] >= due.timestamp()
        with database.write() as conn:
            signal_work(conn)  # runnable now
        wait_until(lambda: len(wakes) >= 3, "the third wake-up", seconds=10)
    finally:
        listener.stop()
        database.dispose()


def test_a_deadline_moved_by_another_process_fires_while_the_worker_sleeps_on_a_long_poll(
    db_url: str,
) -> None:
    """The deadline's NOTIFY is all the sleeping worker hears (its poll is 60 s): the wait must
    fire at its new deadline and the run carry on."""
    url = pg_only(db_url)
    worker_side = Engine(url)
    client_side = Engine(url)
    client_side.publish(waiter())
    run_id = client_side.start("waiter", {})
    stop = threading.Event()
    worker = threading.Thread(
        target=lambda: worker_side.run_worker(options=WorkerOptions(poll_seconds=60), stop=stop)
    )
    worker.start()
    try:
        wait_until(
            lambda: client_side.get_run(run_id)["status"] == "WAITING",
            "the run to wait",
            seconds=10,
        )
        time.sleep(0.3)  # parked (timeout in 1 h): the worker sleeps on its 60 s poll
        due = datetime.now(UTC) + timedelta(milliseconds=500)
        with client_side.db.write() as conn:
            conn.execute(t.waits.update().where(t.waits.c.run_id == run_id).values(due_at=due))
            signal_work(conn, due)
        wait_until(
            lambda: client_side.get_run(run_id)["status"] == "SUCCEEDED",
            "the run to succeed",
            seconds=10,
        )
        with client_side.db.read() as conn:
            wait = conn.execute(sa.select(t.waits.c.due_at, t.waits.c.resolved_at)).one()
        assert wait.resolved_at >= wait.due_at
    finally:
        stop.set()
        worker.join(10)
        worker_side.close()
        client_side.close()
    assert not worker.is_alive()


def test_notifications_reach_listeners_of_the_channel(db_url: str) -> None:
    url = pg_only(db_url)
    raw = url.replace("postgresql+psycopg://", "postgresql://")
    database = Database(url)
    try:
        with psycopg.connect(raw, autocommit=True) as listening:
            listening.execute(f"LISTEN {CHANNEL}")
            with database.write() as conn:
                signal_work(conn, datetime(2030, 1, 1, tzinfo=UTC))
            payloads = [n.payload for n in listening.notifies(timeout=5, stop_after=1)]
    finally:
        database.dispose()
    assert payloads == [f"due:{int(datetime(2030, 1, 1, tzinfo=UTC).timestamp() * 1000)}"]
