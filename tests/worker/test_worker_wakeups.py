"""A running worker is woken by new work in its own process, not by its poll interval."""

from __future__ import annotations

import threading
import time

from flowpin.engine import Engine
from flowpin.worker.loop import WorkerOptions
from waiting import wait_until


def test_start_and_event_wake_a_sleeping_worker(db_url: str) -> None:
    engine = Engine(db_url)
    engine.publish(
        {
            "key": "wake",
            "steps": [
                {
                    "id": "w",
                    "type": "event.wait",
                    "config": {"eventName": "go", "timeoutMs": 60000},
                },
                {"id": "s", "type": "state.set", "config": {"state": "DONE"}},
            ],
        }
    )
    stop = threading.Event()
    # A poll interval far longer than the test: only the in-process wake-up can explain speed.
    options = WorkerOptions(poll_seconds=60)
    worker = threading.Thread(target=lambda: engine.run_worker(options=options, stop=stop))
    worker.start()
    try:
        time.sleep(0.2)  # the worker is idle, sleeping on its poll
        started = time.monotonic()
        run = engine.start("wake", {}, subject="x")
        wait_until(lambda: engine.get_run(run)["status"] == "WAITING", "the run to wait", seconds=5)
        engine.send_event("go", "x")
        wait_until(
            lambda: engine.get_run(run)["status"] == "SUCCEEDED",
            "the event to wake the worker",
            seconds=5,
        )
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        worker.join(10)
        engine.close()
    assert not worker.is_alive()


def test_work_from_another_process_wakes_the_worker_through_listen_notify(db_url: str) -> None:
    """Two engines share nothing in memory, as two processes would: only the database can tell
    the worker of one that the other created work."""
    if db_url.startswith("sqlite"):
        import pytest

        pytest.skip("needs LISTEN/NOTIFY (PostgreSQL); SQLite's cross-process backstop is the poll")
    worker_side = Engine(db_url)
    client_side = Engine(db_url)
    client_side.publish(
        {
            "key": "remote",
            "steps": [
                {
                    "id": "w",
                    "type": "event.wait",
                    "config": {"eventName": "go", "timeoutMs": 60000},
                },
                {"id": "nap", "type": "time.wait", "config": {"durationMs": 300}},
            ],
        }
    )
    stop = threading.Event()
    options = WorkerOptions(poll_seconds=60)
    worker = threading.Thread(target=lambda: worker_side.run_worker(options=options, stop=stop))
    worker.start()
    try:
        time.sleep(0.5)  # the worker is idle, sleeping on its 60 s poll
        run = client_side.start("remote", {}, subject="r")
        wait_until(
            lambda: client_side.get_run(run)["status"] == "WAITING", "the run to wait", seconds=5
        )
        client_side.send_event("go", "r")
        # resumed by the notification, then a 300 ms timer it learned of by notification too
        wait_until(
            lambda: client_side.get_run(run)["status"] == "SUCCEEDED",
            "the event to wake the worker",
            seconds=5,
        )
    finally:
        stop.set()
        worker.join(10)
        worker_side.close()
        client_side.close()
    assert not worker.is_alive()
