"""Checkpoint groups (``worker.grouping``): a run's calls of repeatable actions are written with
its next checkpoint, not each in a commit of its own - and nothing a user relies on changes:
side effects are still checkpointed before they are called, the ledger still answers a retry,
a stopping worker writes what its runs did, and a group is never older than its bound.
Real SQLite files (and PostgreSQL where named), real workers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from builders import action_call, workflow
from flowpin.engine import Engine
from flowpin.registry.actions import ActionContext, ActionError, action
from flowpin.registry.catalog import Registry
from flowpin.worker.loop import WorkerOptions
from waiting import wait_until

CALLS: Counter[str] = Counter()
STOP = threading.Event()
SLOW = threading.Event()
DECLINE = {"on": False}


class Count(BaseModel):
    n: int = 0


@action("group.add", version=1, effect="idempotent")
def add(data: Count, ctx: ActionContext) -> Count:
    CALLS[ctx.step_id] += 1
    if ctx.step_id == "stops":
        STOP.set()
    return Count(n=data.n + 1)


@action("group.add_once", version=1, effect="side_effect")
def add_once(data: Count, ctx: ActionContext) -> Count:
    CALLS[ctx.step_id] += 1
    if DECLINE["on"]:
        raise ActionError("declined", retryable=False)
    return Count(n=data.n + 1)


@action("group.slow", version=1, effect="idempotent")
def slow(data: Count, ctx: ActionContext) -> Count:
    CALLS[ctx.step_id] += 1
    SLOW.wait(30)
    return Count(n=data.n + 1)


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    CALLS.clear()
    STOP.clear()
    SLOW.clear()
    DECLINE["on"] = False
    yield
    SLOW.set()


def _engine(url: str) -> Engine:
    registry = Registry()
    for handler in (add, add_once, slow):
        registry.register(handler)
    return Engine(url, registry=registry)


def _step(step_id: str, action_id: str = "group.add") -> dict[str, Any]:
    return action_call(
        step_id,
        action_id,
        inputMapping={"n": {"$expr": "$exists(vars.c) ? vars.c.n : 0"}},
        saveAs="vars.c",
    )


def _counting(key: str, *step_ids: str, action_id: str = "group.add") -> dict[str, Any]:
    steps = [_step(step_id, action_id) for step_id in step_ids]
    return workflow(key, *steps, output={"$expr": "vars.c.n"})


def _done_steps(engine: Engine, run_id: str) -> list[str]:
    return [
        row["stepId"]
        for row in engine.history(run_id)
        if row["type"] == "action.call" and row["status"] == "succeeded"
    ]


TEN = [f"s{i}" for i in range(10)]


def test_repeatable_calls_are_written_by_one_checkpoint(db_url: str) -> None:
    with _engine(db_url) as engine:
        engine.publish(_counting("ten", *TEN))
        run_id = engine.start("ten", {})
        worker = engine.run_worker(until_idle=True)
        run = engine.get_run(run_id)
        assert run["status"] == "SUCCEEDED" and run["output"] == 10
        assert _done_steps(engine, run_id) == TEN  # every step's history, in order
        assert Counter(TEN) == CALLS  # each handler once
        assert worker.stats.actions_called == 10
        assert worker.stats.checkpoints <= 2, worker.stats  # not one per call


def test_every_side_effect_is_still_a_checkpoint_of_its_own(sqlite_url: str) -> None:
    with _engine(sqlite_url) as engine:
        engine.publish(_counting("effects", *TEN, action_id="group.add_once"))
        run_id = engine.start("effects", {})
        worker = engine.run_worker(until_idle=True)
        assert engine.get_run(run_id)["output"] == 10
        assert worker.stats.checkpoints >= 11, worker.stats


def test_no_groups_when_the_worker_is_told_so(sqlite_url: str) -> None:
    with _engine(sqlite_url) as engine:
        engine.publish(_counting("ten", *TEN))
        run_id = engine.start("ten", {})
        worker = engine.run_worker(until_idle=True, options=WorkerOptions(group_calls=0))
        assert engine.get_run(run_id)["output"] == 10
        assert worker.stats.checkpoints >= 11, worker.stats


def _keyed(key: str) -> dict[str, Any]:
    """One repeatable call under the idempotency key ``order-7``, then two more."""
    first = action_call("a", "group.add", idempotencyKey="order-7", saveAs="vars.c")
    return workflow(key, first, _step("b"), _step("c"), output={"$expr": "vars.c.n"})


def test_a_known_key_is_still_answered_by_the_ledger(sqlite_url: str) -> None:
    """SPEC §4.5: a succeeded key returns the stored output without calling the handler, even
    for a call a group would make."""
    with _engine(sqlite_url) as engine:
        engine.publish(_keyed("keyed"))
        first = engine.start("keyed", {})
        engine.run_worker(until_idle=True)
        second = engine.start("keyed", {})
        engine.run_worker(until_idle=True)
        assert engine.get_run(first)["output"] == engine.get_run(second)["output"] == 3
        assert Counter(a=1, b=2, c=2) == CALLS


def test_a_key_the_group_already_called_is_answered_by_the_ledger(sqlite_url: str) -> None:
    """Two steps of one run under one key: the second takes the first's output, though the
    first was made in the group and is not written yet."""
    with _engine(sqlite_url) as engine:
        again = action_call("again", "group.add", idempotencyKey="order-7", saveAs="vars.d")
        definition = _keyed("twice")
        definition["steps"].append(again)
        definition["output"] = {"$expr": "[vars.c.n, vars.d.n]"}
        engine.publish(definition)
        run_id = engine.start("twice", {})
        engine.run_worker(until_idle=True)
        assert engine.get_run(run_id)["output"] == [3, 1]  # a's output, answered again
        assert Counter(a=1, b=1, c=1) == CALLS


def test_two_runs_sharing_a_key_in_one_pass_call_it_once(db_url: str) -> None:
    with _engine(db_url) as engine:
        engine.publish(_keyed("keyed"))
        runs = [engine.start("keyed", {}) for _ in range(2)]
        engine.run_worker(until_idle=True)
        assert [engine.get_run(run_id)["output"] for run_id in runs] == [3, 3]
        assert Counter(a=1, b=2, c=2) == CALLS


def test_a_stopping_worker_writes_what_its_runs_did(sqlite_url: str) -> None:
    """Stopped while a run is in the middle of a group, the worker writes the group: the next
    worker goes on from there and does not call the steps done again."""
    with _engine(sqlite_url) as engine:
        engine.publish(_counting("stopped", "a", "b", "c", "stops", "e"))
        run_id = engine.start("stopped", {})
        engine.run_worker(stop=STOP)
        assert {"a", "b", "c"} <= set(_done_steps(engine, run_id))
        engine.run_worker(until_idle=True)
        run = engine.get_run(run_id)
        assert run["status"] == "SUCCEEDED" and run["output"] == 5
        # The steps the group did are not done again (a call in flight when the worker let go
        # of the run may be: its result was not taken).
        assert CALLS["a"] == CALLS["b"] == CALLS["c"] == 1, CALLS


def test_a_group_is_written_while_a_slow_call_runs(sqlite_url: str) -> None:
    """The run viewer lags a run by at most ``group_seconds``: the steps done before a slow
    call are written while it runs, not when it returns."""
    with _engine(sqlite_url) as engine:
        engine.publish(
            workflow("slowly", _step("a"), _step("b"), _step("slow", "group.slow"), _step("d"))
        )
        run_id = engine.start("slowly", {})
        options = WorkerOptions(group_seconds=0.1, poll_seconds=0.05)
        stop = threading.Event()
        thread = threading.Thread(
            target=engine.run_worker, kwargs={"options": options, "stop": stop}
        )
        thread.start()
        try:
            wait_until(lambda: CALLS["slow"] == 1, "the slow call to start")
            wait_until(
                lambda: _done_steps(engine, run_id) == ["a", "b"],
                "the steps before the slow call to be written while it runs",
            )
            assert engine.get_run(run_id)["status"] == "RUNNING"
            SLOW.set()
            wait_until(lambda: engine.get_run(run_id)["status"] == "SUCCEEDED", "the run to end")
        finally:
            SLOW.set()
            stop.set()
            thread.join(30)
        assert _done_steps(engine, run_id) == ["a", "b", "slow", "d"]
