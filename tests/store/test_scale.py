"""What one event, one start and one read cost in SQLite must not grow with the number of runs
parked in the database. Without statistics, SQLite's planner once served ``UPDATE waits …
WHERE id IN (…) AND status = 'open'`` (ending the waits an event resolves) from the index on
``status``: a walk over every open wait, per event. Measured in SQLite VM instructions (a
progress handler), the same on any machine, not in time."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flowpin import Engine
from flowpin.engine.start_commits import StartIn

PARKED = {
    "key": "parked",
    "steps": [
        {"id": "wait", "type": "event.wait", "config": {"eventName": "go"}},
        {"id": "end", "type": "control.return", "output": "ok"},
    ],
}
ONE_STEP = {"key": "one", "steps": [{"id": "end", "type": "control.return", "output": "ok"}]}
EVERY = 1
"""The progress handler runs every this many VM instructions (SQLite counts them per call
of ``sqlite3_step``, so anything more misses short steps)."""


def _parked_engine(path: Path, parked: int) -> tuple[Engine, list[int]]:
    """An engine with ``parked`` runs waiting for their event, and its VM instruction count
    (it counts only once its first item is switched on: ``counter[1] = 1``)."""
    engine = Engine(f"sqlite:///{path}")
    engine.db.engine.dispose()  # every connection from now on counts
    counter = [0, 0]

    @sa.event.listens_for(engine.db.engine, "connect")
    def _count(dbapi: Any, _record: Any) -> None:
        def tick() -> int:
            counter[0] += counter[1]
            return 0

        dbapi.set_progress_handler(tick, EVERY)

    engine.publish(PARKED)
    engine.publish(ONE_STEP)
    engine.start_many([StartIn("parked", {}, f"k{n}") for n in range(parked)])
    engine.run_worker(until_idle=True)
    assert engine.run_counts(workflow="parked")["counts"]["WAITING"] == parked
    counter[1] = 1
    return engine, counter


def _cost(counter: list[int], work: Callable[[], Any]) -> int:
    before = counter[0]
    work()
    return (counter[0] - before) * EVERY


def _costs(engine: Engine, counter: list[int], keys: Iterator[int]) -> dict[str, int]:
    run_id = engine.start("one", {})
    subject = f"k{next(keys)}"
    costs = {
        "event": _cost(counter, lambda: engine.send_event("go", subject, {})),
        "resume": _cost(counter, lambda: engine.run_worker(until_idle=True)),
        "start": _cost(counter, lambda: engine.start("one", {})),
        "read": _cost(counter, lambda: engine.get_run(run_id)),
    }
    [resumed] = engine.list_runs(workflow="parked", subject=subject)
    assert resumed["status"] == "SUCCEEDED"  # the event did its work
    return costs


def test_an_event_a_start_and_a_read_cost_the_same_with_100_or_3000_parked_runs(
    tmp_path: Path,
) -> None:
    small, small_counter = _parked_engine(tmp_path / "small.db", 100)
    large, large_counter = _parked_engine(tmp_path / "large.db", 3000)
    try:
        keys = itertools.count()
        _costs(small, small_counter, keys)  # first uses: statements prepared, caches filled
        _costs(large, large_counter, keys)
        few, many = _costs(small, small_counter, keys), _costs(large, large_counter, keys)
    finally:
        small.close()
        large.close()
    for what, cost in few.items():
        # A B-tree 30 times larger is a level or two deeper: a few per cent more, never 30×.
        assert many[what] <= cost * 1.5 + 2 * EVERY, (what, cost, many[what])


def _buffered_engine(path: Path, consumed: int) -> tuple[Engine, list[int]]:
    """An engine where ``consumed`` runs each took the same buffered event (``ttlMs``)."""
    engine, counter = _parked_engine(path, 0)
    counter[1] = 0
    engine.send_event("go", "shared", {}, ttl_ms=3_600_000)
    engine.start_many([StartIn("parked", {}, "shared") for _ in range(consumed)])
    engine.run_worker(until_idle=True)
    assert engine.run_counts(workflow="parked")["counts"]["SUCCEEDED"] == consumed
    counter[1] = 1
    return engine, counter


def test_a_wait_taking_a_buffered_event_costs_the_same_after_100_or_3000_takers(
    tmp_path: Path,
) -> None:
    """A registering wait looks for buffered events its run has not consumed: by the
    consumption's key, not by a walk over every consumption ever recorded."""
    costs = []
    for consumed in (100, 3000):
        engine, counter = _buffered_engine(tmp_path / f"{consumed}.db", consumed)
        try:
            engine.start("parked", {}, subject="shared")
            engine.run_worker(until_idle=True)  # first uses
            engine.start("parked", {}, subject="shared")
            costs.append(_cost(counter, lambda e=engine: e.run_worker(until_idle=True)))
            counts = engine.run_counts(workflow="parked")["counts"]
            assert counts["SUCCEEDED"] == consumed + 2
        finally:
            engine.close()
    few, many = costs
    assert many <= few * 1.5 + 2 * EVERY, (few, many)
