"""The state as stored: tokens, JSON round trips, key order, copying."""

from __future__ import annotations

import json
import random
from typing import Any

from driver import RUN, Driver, action, assign, expr, raises, workflow

from flowpin.runtime.decisions import CallAction
from flowpin.runtime.ids import idempotency_key
from flowpin.runtime.state import copy_state, leaves, route
from flowpin.types import RunStatus


def nested() -> Any:
    return workflow(
        [
            {
                "id": "outer",
                "type": "control.forEach",
                "items": expr("payload.items"),
                "concurrency": 3,
                "collect": expr("vars.out"),
                "saveAs": "vars.all",
                "body": [
                    {
                        "id": "fan",
                        "type": "control.parallel",
                        "saveAs": "vars.out",
                        "branches": [
                            {
                                "id": "a",
                                "steps": [
                                    {
                                        "id": "guard",
                                        "type": "control.tryCatch",
                                        "try": [
                                            action(
                                                "x",
                                                save_as="vars.x",
                                                inputMapping={"i": expr("vars.item")},
                                            )
                                        ],
                                        "catch": [],
                                    }
                                ],
                            },
                            {
                                "id": "b",
                                "steps": [
                                    {
                                        "id": "sw",
                                        "type": "control.switch",
                                        "cases": [
                                            {
                                                "id": "even",
                                                "when": expr("vars.item % 2 = 0"),
                                                "steps": [action("y", save_as="vars.y")],
                                            }
                                        ],
                                        "default": [
                                            {
                                                "id": "t",
                                                "type": "time.wait",
                                                "config": {"durationMs": 10},
                                            }
                                        ],
                                    }
                                ],
                            },
                        ],
                    }
                ],
            }
        ],
        output=expr("vars.all"),
    )


def test_route_finds_active_leaves_only() -> None:
    driver = Driver(nested(), {"items": [1, 2, 3, 4]}, {"demo.act": 1})
    driver.advance()
    tokens = sorted(ctx.token for ctx in leaves(driver.state))
    assert tokens == [
        "outer[0]/fan:a/x",
        "outer[0]/fan:b/t",
        "outer[1]/fan:a/x",
        "outer[1]/fan:b/y",
        "outer[2]/fan:a/x",
        "outer[2]/fan:b/t",
    ]
    for token in tokens:
        ctx = route(driver.state, token)
        assert ctx is not None and ctx.token == token
    for token in (
        "outer[3]/fan:a/x",
        "outer[0]/fan:c/x",
        "outer[0]/fan:a/y",
        "outer/fan:a/x",
        "x",
        "fan:a/x",
        "outer[0]",
        "",
    ):
        assert route(driver.state, token) is None
    iteration = route(driver.state, "outer[1]/fan:b/y")
    assert iteration is not None
    assert iteration.holder[iteration.key] == {"item": 2, "itemIndex": 1}


def _shuffle_keys(value: Any, rng: random.Random) -> Any:
    """What PostgreSQL JSONB does to object key order (roughly): not insertion order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: _shuffle_keys(value[key], rng) for key in keys}
    if isinstance(value, list):
        return [_shuffle_keys(item, rng) for item in value]
    return value


def _play(shuffle: bool) -> tuple[list, list, Any]:
    rng = random.Random(7)
    driver = Driver(
        nested(), {"items": [1, 2, 3, 4, 5]}, {"demo.act": lambda args, call: call.token}
    )
    driver.advance()
    for _ in range(100):
        if driver.status.terminal:
            break
        if shuffle:
            driver.state = _shuffle_keys(json.loads(json.dumps(driver.state)), rng)
        if driver.calls:
            calls = sorted(driver.calls.values(), key=lambda c: c.token)
            driver.calls.clear()
            driver.advance([driver.answer(call) for call in calls])
        else:
            timers = sorted(driver.waits)
            driver.fire(timers[0])
    return driver.commands, driver.history, driver.outcome.output


def test_outcomes_do_not_depend_on_json_round_trips_or_key_order() -> None:
    plain = _play(shuffle=False)
    shuffled = _play(shuffle=True)
    assert plain == shuffled
    assert plain[2][0] == {
        "a": {"item": 1, "itemIndex": 0, "x": "outer[0]/fan:a/x"},
        "b": {"item": 1, "itemIndex": 0},
    }


def test_copy_state_leaves_the_original_alone() -> None:
    driver = Driver(nested(), {"items": [1, 2]}, {"demo.act": 1})
    driver.advance()
    original = json.loads(json.dumps(driver.state))
    copied = copy_state(driver.state)
    for ctx in leaves(copied):
        ctx.frame["st"] = "changed"
    copied["root"]["res"].append("x")
    copied["envelope"]["vars"] = {"changed": True}
    assert driver.state == original


def test_failed_parallel_keeps_sibling_call_keys_on_retry() -> None:
    definition = workflow(
        [
            {
                "id": "fan",
                "type": "control.parallel",
                "branches": [
                    {"id": "slow", "steps": [action("send", "demo.send")]},
                    {"id": "bad", "steps": [action("boom", "demo.boom")]},
                ],
            }
        ]
    )
    driver = Driver(definition, None, {"demo.boom": raises(), "demo.send": "sent"})
    driver.advance()
    boom = driver.calls.pop("fan:bad/boom")
    outcome = driver.advance([driver.answer(boom)])  # "send" is still in flight
    assert outcome.status is RunStatus.FAILED
    assert [e.status for e in outcome.history] == ["failed", "skipped"]
    driver.calls.clear()
    driver.retry()
    outcome = driver.advance()
    keys = {c.token: c.idempotency_key for c in outcome.commands if isinstance(c, CallAction)}
    assert keys == {
        "fan:slow/send": idempotency_key(RUN.run_id, "fan:slow/send", "demo.send", 1),
        "fan:bad/boom": idempotency_key(RUN.run_id, "fan:bad/boom", "demo.boom", 1),
    }
    driver.actions["demo.boom"] = "ok"
    assert driver.play().status is RunStatus.SUCCEEDED


def test_pending_work_uses_the_given_time() -> None:
    from datetime import timedelta

    from driver import T0

    driver = Driver(workflow([assign("a", **{"vars.now": expr("$now()")})]))
    later = T0 + timedelta(days=2)
    driver.advance(now=later)
    assert driver.vars["now"] == "2026-01-03T00:00:00.000Z"


def test_a_position_on_a_step_the_version_lacks_fails_the_run() -> None:
    definition = workflow([assign("a", **{"vars.a": 1})])
    driver = Driver(definition)
    driver.state["root"] = {"s": "gone", "st": "new"}
    outcome = driver.advance()
    assert outcome.status is RunStatus.FAILED
    assert outcome.error["category"] == "ValidationError" and outcome.error["stepId"] == "gone"
