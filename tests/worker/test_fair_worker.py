"""One run cannot starve a worker (SPEC §8): a run spends at most its CPU budget per claim
interpreting, then yields - its progress checkpointed, the run requeued behind the others -
and a run that interprets for long does so off the worker's event loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from flowpin.engine import Engine
from flowpin.registry.actions import action
from flowpin.registry.catalog import Registry
from flowpin.worker.loop import Worker, WorkerOptions
from waiting import wait_until

BURN = "($loop := function() { $loop() }; $loop())"
"""Never ends: each evaluation spends its whole time budget (50 ms) and fails."""

ITEMS = 24


def _burn_loop(items: int) -> dict[str, Any]:
    return {
        "id": "each",
        "type": "control.forEach",
        "items": {"$expr": f"[1..{items}]"},
        "body": [
            {
                "id": "burn",
                "type": "transform.assign",
                "onError": "continue",
                "config": {"assign": {"vars.x": {"$expr": BURN}}},
            }
        ],
    }


HOSTILE = {
    "key": "hostile",
    "steps": [_burn_loop(ITEMS), {"id": "end", "type": "control.return", "output": "burnt"}],
}
TRIVIAL = {"key": "trivial", "steps": [{"id": "end", "type": "control.return", "output": "ok"}]}


class Note(BaseModel):
    text: str


noted: list[str] = []


@action("test.note", version=1, effect="side_effect")
def note(item: Note) -> Note:
    noted.append(item.text)
    return item


BESIDE = {
    "key": "beside",
    "steps": [
        {
            "id": "fan",
            "type": "control.parallel",
            "branches": [
                {"id": "hot", "steps": [_burn_loop(12)]},
                {
                    "id": "calls",
                    "steps": [
                        {
                            "id": f"note{i}",
                            "type": "action.call",
                            "config": {
                                "actionId": "test.note",
                                "version": 1,
                                "inputMapping": {"text": f"n{i}"},
                            },
                        }
                        for i in range(6)
                    ],
                },
            ],
        },
        {"id": "end", "type": "control.return", "output": "done"},
    ],
}

OPTIONS = WorkerOptions(cpu_budget_seconds=0.03, poll_seconds=0.05)


@contextmanager
def _working(engine: Engine) -> Iterator[list[Worker]]:
    """A worker in a thread until the block ends; the list holds it once it stopped."""
    stop = threading.Event()
    done: list[Worker] = []
    thread = threading.Thread(
        target=lambda: done.append(engine.run_worker(stop=stop, options=OPTIONS))
    )
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join(60)
        assert not thread.is_alive()


def _finished(engine: Engine, run_id: str) -> bool:
    return engine.get_run(run_id)["status"] in ("SUCCEEDED", "FAILED")


def test_a_trivial_run_finishes_while_a_hostile_one_burns(db_url: str) -> None:
    with Engine(db_url) as engine:
        engine.publish(HOSTILE)
        engine.publish(TRIVIAL)
        hostile = engine.start("hostile", {})
        with _working(engine) as stopped:
            wait_until(
                lambda: len(engine.history(hostile)) >= 2,
                "two steps of the hostile run",
                seconds=60,
            )
            trivial = engine.start("trivial", {})
            wait_until(lambda: _finished(engine, trivial), "the trivial run to finish", seconds=60)
            # The trivial run did not wait for the hostile one to end.
            assert not _finished(engine, hostile)
            assert engine.get_run(trivial)["output"] == "ok"
            wait_until(lambda: _finished(engine, hostile), "the hostile run to finish", seconds=100)
        (worker,) = stopped

        run = engine.get_run(hostile, history=True)
        assert run["status"] == "SUCCEEDED" and run["output"] == "burnt"
        # Yielded and requeued several times, and nothing was lost or done twice meanwhile:
        # each item's burn ran once, and failed on the time limit as it should.
        assert worker.stats.yields >= 3
        burns = [step for step in run["history"] if step["stepId"] == "burn"]
        assert sorted(step["token"] for step in burns) == sorted(
            f"each[{i}]/burn" for i in range(ITEMS)
        )
        assert {step["status"] for step in burns} == {"continued"}


def test_a_run_with_calls_in_flight_keeps_them_while_it_burns_beside(db_url: str) -> None:
    noted.clear()
    registry = Registry()
    registry.register(note)
    with Engine(db_url, registry=registry) as engine:
        engine.publish(BESIDE)
        run_id = engine.start("beside", {})
        with _working(engine):
            wait_until(lambda: _finished(engine, run_id), "the run to finish", seconds=100)

        run = engine.get_run(run_id, history=True)
        assert run["status"] == "SUCCEEDED"
        assert noted == [f"n{i}" for i in range(6)]  # each side effect once, in order
        burns = [step for step in run["history"] if step["stepId"] == "burn"]
        assert len(burns) == 12
