"""History steps per run are limited (SPEC §8): a run past the limit fails with ``limit.steps``
instead of growing its history for ever."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from flowpin.engine import Engine
from flowpin.registry.actions import action
from flowpin.registry.catalog import Registry


class Item(BaseModel):
    n: int


@action("test.count", version=1, effect="none")
def count(item: Item) -> Item:
    return item


def _loop(count: int, *, call: bool) -> dict[str, Any]:
    body: dict[str, Any] = (
        {
            "id": "touch",
            "type": "action.call",
            "config": {
                "actionId": "test.count",
                "version": 1,
                "inputMapping": {"n": {"$expr": "vars.item"}},
            },
        }
        if call
        else {
            "id": "touch",
            "type": "transform.assign",
            "config": {"assign": {"vars.last": {"$expr": "vars.item"}}},
        }
    )
    return {
        "key": "loop",
        "steps": [
            {
                "id": "each",
                "type": "control.forEach",
                "items": {"$expr": f"[1..{count}]"},
                "body": [body],
            },
            {"id": "end", "type": "control.return", "output": "done"},
        ],
    }


def _engine(url: str, **options: Any) -> Engine:
    registry = Registry()
    registry.register(count)
    return Engine(url, registry=registry, **options)


def _run(engine: Engine, definition: dict[str, Any]) -> dict[str, Any]:
    engine.publish(definition)
    run_id = engine.start("loop", {})
    engine.run_worker(until_idle=True)
    return engine.get_run(run_id, history=True)


@pytest.mark.parametrize("call", [True, False], ids=["action-per-item", "in-memory"])
def test_a_run_past_the_limit_fails_with_limit_steps(db_url: str, call: bool) -> None:
    with _engine(db_url, max_steps_per_run=50) as engine:
        run = _run(engine, _loop(500, call=call))
        assert run["status"] == "FAILED"
        assert run["output"] is None
        error = run["error"]
        assert (error["category"], error["code"]) == ("LimitError", "limit.steps")
        assert error["data"]["limit"] == 50
        assert "limit is 50" in error["message"]
        if call:  # each item is its own checkpoint: the run stops right at the limit
            assert 50 < len(run["history"]) <= 52


def test_a_run_within_the_limit_is_not_affected(db_url: str) -> None:
    with _engine(db_url, max_steps_per_run=50) as engine:
        run = _run(engine, _loop(20, call=True))
        assert run["output"] == "done"


def test_the_default_comes_from_the_environment(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWPIN_MAX_STEPS_PER_RUN", "7")
    with _engine(db_url) as engine:
        assert engine.deps.limits.max_steps_per_run == 7
    monkeypatch.delenv("FLOWPIN_MAX_STEPS_PER_RUN")
    with _engine(db_url) as engine:
        assert engine.deps.limits.max_steps_per_run == 10_000


CALLS: list[int] = []


@action("test.side_effect", version=1, effect="side_effect")
def side_effect(item: Item) -> Item:
    CALLS.append(item.n)
    return item


@pytest.mark.parametrize("concurrency", [1, 50], ids=["sequential", "parallel"])
def test_the_limit_stops_a_loop_before_it_does_the_rest_of_its_work(
    db_url: str, concurrency: int
) -> None:
    """A 50-item forEach with a limit of 5 fails with limit.steps after about 5 steps: the
    limit is checked as the run goes, not after the loop has called its action 50 times."""
    definition = _loop(50, call=True)
    definition["steps"][0]["concurrency"] = concurrency
    definition["steps"][0]["body"][0]["config"]["actionId"] = "test.side_effect"
    CALLS.clear()
    registry = Registry()
    registry.register(side_effect)
    with Engine(db_url, registry=registry, max_steps_per_run=5) as engine:
        run = _run(engine, definition)
    assert run["status"] == "FAILED"
    assert run["error"]["code"] == "limit.steps"
    assert len(CALLS) <= 5
    assert len(run["history"]) <= 6
