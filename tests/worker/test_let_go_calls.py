"""When a worker lets go of a run, the async handlers it still runs for that run are cancelled.

A run can end while one of its branches still waits on an action (another branch returned),
and a worker can give a run up while a call is in flight (its checkpoint batch failed: the
claim lapses and another claimant makes the call again). In both cases nobody will read the
handler's result, so it must not go on running: the action would keep its connection, its
timer or its side effect going for a run that is over or in someone else's hands - as Temporal
cancels an activity whose workflow completed. Real SQLite file, real worker in a thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from builders import action_call, workflow
from flowpin.engine import Engine
from flowpin.registry.actions import action
from flowpin.registry.catalog import Registry
from flowpin.worker import loop as worker_loop
from flowpin.worker.loop import Worker, WorkerOptions
from waiting import wait_until

SLOW_STARTED = threading.Event()
SLOW_CANCELLED = threading.Event()


class Nothing(BaseModel):
    pass


@action("letgo.slow", version=1, effect="side_effect")
async def slow(data: Nothing) -> Nothing:
    SLOW_STARTED.set()
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        SLOW_CANCELLED.set()
        raise
    return Nothing()


@action("letgo.quick", version=1, effect="side_effect")
def quick(data: Nothing) -> Nothing:
    return Nothing()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    SLOW_STARTED.clear()
    SLOW_CANCELLED.clear()
    yield


def _engine(url: str) -> Engine:
    registry = Registry()
    registry.register(slow)
    registry.register(quick)
    return Engine(url, registry=registry)


def _two_branches(key: str, *second: dict[str, Any]) -> dict[str, Any]:
    """A slow async call in one branch; once it has started, ``second`` in the other."""
    return workflow(
        key,
        {
            "id": "both",
            "type": "control.parallel",
            "branches": [
                {"id": "waits", "steps": [action_call("slow", "letgo.slow")]},
                {"id": "goes_on", "steps": list(second)},
            ],
        },
    )


class _Running:
    """A worker on its own thread and event loop until closed."""

    def __init__(self, engine: Engine) -> None:
        self.worker = Worker(engine.deps, WorkerOptions(poll_seconds=0.05))
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.worker.run(stop=self.stopping),)
        )
        self.thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(30)
        self.loop.close()


def test_a_run_that_ends_cancels_its_branch_still_in_flight(sqlite_url: str) -> None:
    with _engine(sqlite_url) as engine:
        engine.publish(
            _two_branches(
                "ends",
                action_call("first", "letgo.quick"),
                {"id": "done", "type": "control.return", "output": "early"},
            )
        )
        running = _Running(engine)
        try:
            run_id = engine.start("ends", {})
            wait_until(lambda: engine.get_run(run_id)["status"] == "SUCCEEDED", "the run to end")
            assert SLOW_STARTED.is_set()
            wait_until(SLOW_CANCELLED.is_set, "the slow handler of the ended run to be cancelled")
            assert running.worker.held_runs() == []
        finally:
            running.close()


def test_a_failed_checkpoint_cancels_the_calls_in_flight_of_its_runs(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed: list[str] = []
    write = worker_loop.write_checkpoints

    def fail_once_the_quick_call_is_done(conn: Any, requests: Any, *args: Any) -> Any:
        for request in requests:
            done = (call.action_id for call, _ in request.completed_calls)
            if "letgo.quick" in done and not failed:
                failed.append(request.run.id)
                raise RuntimeError("the disk is full")
        return write(conn, requests, *args)

    monkeypatch.setattr(worker_loop, "write_checkpoints", fail_once_the_quick_call_is_done)
    with _engine(sqlite_url) as engine:
        engine.publish(_two_branches("lost", action_call("first", "letgo.quick")))
        running = _Running(engine)
        try:
            run_id = engine.start("lost", {})
            wait_until(lambda: failed == [run_id], "the run's checkpoint batch to fail")
            assert SLOW_STARTED.is_set()
            wait_until(SLOW_CANCELLED.is_set, "the slow handler of the run let go to be cancelled")
            assert run_id not in running.worker.held_runs()
        finally:
            running.close()
