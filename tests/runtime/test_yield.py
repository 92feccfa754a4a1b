"""``advance`` yields when its caller says so (the worker's CPU budget per run): the positions
left are runnable in the checkpointed state, and continuing from there ends the run exactly as
an uninterrupted one would."""

from __future__ import annotations

from typing import Any

import pytest
from driver import Driver, action, assign, expr, workflow

from flowpin.types import RunStatus

DEFINITION = workflow(
    [
        assign("start", **{"vars.total": 0}),
        {
            "id": "each",
            "type": "control.forEach",
            "items": expr("[1..7]"),
            "concurrency": 3,
            "body": [
                assign("double", **{"vars.twice": expr("vars.item * 2")}),
                action("echo", save_as="vars.echoed", inputMapping={"v": expr("vars.twice")}),
                {
                    "id": "odd",
                    "type": "control.if",
                    "condition": expr("vars.item % 2 = 1"),
                    "then": [assign("mark", **{"vars.odd": True})],
                },
            ],
            "collect": expr("{'item': vars.item, 'echoed': vars.echoed, 'odd': vars.odd}"),
            "saveAs": "vars.results",
        },
        {
            "id": "fan",
            "type": "control.parallel",
            "branches": [
                {
                    "id": "left",
                    "steps": [assign("l1", **{"vars.l": 1}), assign("l2", **{"vars.l2": 2})],
                },
                {
                    "id": "right",
                    "steps": [action("r1", save_as="vars.r", inputMapping={"v": "right"})],
                },
            ],
            "saveAs": "vars.fan",
        },
        {"id": "end", "type": "control.return", "output": expr("vars")},
    ]
)


def _echo(value: Any) -> Any:
    return value


def _every(n: int) -> Any:
    """A ``should_yield`` that says yes on every ``n``-th question."""
    asked = 0

    def should_yield() -> bool:
        nonlocal asked
        asked += 1
        return asked % n == 0

    return should_yield


def _played(**options: Any) -> Driver:
    driver = Driver(DEFINITION, {}, {"demo.act": _echo}, options=options)
    driver.play()
    return driver


def _rows(driver: Driver) -> list[tuple[Any, ...]]:
    return sorted((e.token, e.status, e.attempt, repr(e.output)) for e in driver.history)


@pytest.mark.parametrize("every", [1, 2, 3, 5, 8])
def test_a_run_that_yields_ends_as_one_that_does_not(every: int) -> None:
    plain = _played()
    yielding = _played(should_yield=_every(every))

    assert yielding.status == plain.status == RunStatus.SUCCEEDED
    assert yielding.outcome is not None and plain.outcome is not None
    assert yielding.outcome.output == plain.outcome.output
    assert _rows(yielding) == _rows(plain)
    assert len(yielding.all_calls) == len(plain.all_calls)


def test_a_yield_leaves_runnable_positions_and_a_running_status() -> None:
    driver = Driver(DEFINITION, {}, {"demo.act": _echo}, options={"should_yield": lambda: True})
    outcome = driver.advance()

    assert outcome.yielded
    assert outcome.status == RunStatus.RUNNING
    assert [e.step_id for e in outcome.history] == ["start"]  # one step, then the yield
    assert driver.state["pending"] is True
    assert driver.state["root"]["st"] == "new"
    assert outcome.current_steps == ["each"]
