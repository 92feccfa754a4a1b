"""retry_state (retry from step) and resume_timers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from driver import RUN, T0, Driver, Fail, action, assign, expr, play, raises, workflow

from flowpin.errors import ConflictError, NotFoundError
from flowpin.runtime.decisions import CallAction, CreateTask, StartChild, WaitUntil
from flowpin.runtime.ids import child_run_id, idempotency_key, task_id
from flowpin.runtime.interpreter import resume_timers, retry_state
from flowpin.types import RunStatus


class Switchable:
    """A stub that fails until told otherwise."""

    def __init__(self) -> None:
        self.broken = True
        self.calls = 0

    def __call__(self, args: object) -> str:
        self.calls += 1
        if self.broken:
            raise Fail("ActionError", "broken")
        return "fixed"


def test_retry_from_the_failed_step() -> None:
    stub = Switchable()
    definition = workflow(
        [
            action("ok", "demo.ok", save_as="vars.ok", retry={"maxAttempts": 2, "backoffMs": 0}),
            action(
                "flaky",
                "demo.flaky",
                save_as="vars.flaky",
                retry={"maxAttempts": 2, "backoffMs": 0, "retryOn": ["ActionError"]},
            ),
            assign("after", **{"vars.after": expr("vars.ok & '+' & vars.flaky")}),
        ],
        output=expr("vars.after"),
    )
    driver = play(definition, None, {"demo.ok": "ok", "demo.flaky": stub})
    assert driver.status is RunStatus.FAILED
    assert driver.state["failed"] == {"token": "flaky", "stepId": "flaky"}
    assert driver.state["root"] == {
        "s": "flaky",
        "st": "failed",
        "n": 2,
        "t0": driver.state["root"]["t0"],
    }
    original_key = driver.all_calls[-1].idempotency_key

    stub.broken = False
    driver.retry(now=T0 + timedelta(hours=1))
    assert driver.state["status"] == "RUNNING" and "failed" not in driver.state
    assert driver.state["envelope"]["error"] is None
    outcome = driver.advance()
    (call,) = outcome.commands
    assert isinstance(call, CallAction) and call.attempt == 1
    assert call.idempotency_key == original_key  # the ledger sees the failed key again
    assert driver.state["t"] == int((T0 + timedelta(hours=1)).timestamp() * 1000)
    final = driver.play()
    assert final.status is RunStatus.SUCCEEDED and final.output == "ok+fixed"
    assert [c.action_id for c in driver.all_calls].count("demo.ok") == 1


def test_retry_from_an_earlier_step_reruns_with_new_keys_and_payload() -> None:
    definition = workflow(
        [
            action(
                "first", "demo.first", save_as="vars.first", inputMapping={"p": expr("payload.p")}
            ),
            action("second", "demo.second"),
        ]
    )
    driver = play(definition, {"p": 1}, {"demo.first": lambda a: a["p"], "demo.second": raises()})
    assert driver.status is RunStatus.FAILED
    keys_before = [c.idempotency_key for c in driver.all_calls]
    driver.retry("first", {"p": 2})
    driver.actions["demo.second"] = "ok"
    outcome = driver.play()
    assert outcome.status is RunStatus.SUCCEEDED
    assert driver.vars["first"] == 2
    new_keys = [c.idempotency_key for c in driver.all_calls[2:]]
    assert new_keys == [
        idempotency_key(RUN.run_id, "first#1", "demo.first", 1),
        idempotency_key(RUN.run_id, "second#1", "demo.second", 1),
    ]
    assert not set(new_keys) & set(keys_before)


def test_retry_from_a_step_nested_in_branches() -> None:
    definition = workflow(
        [
            {
                "id": "guard",
                "type": "control.tryCatch",
                "captureErrorAs": "vars.err",
                "try": [action("a")],
                "catch": [
                    {
                        "id": "which",
                        "type": "control.if",
                        "condition": True,
                        "then": [
                            action("notify", "demo.notify"),
                            assign("mark", **{"vars.seen": expr("error.message")}),
                        ],
                    }
                ],
            },
            assign("end", **{"vars.end": True}),
        ]
    )
    driver = play(
        definition,
        None,
        {"demo.act": raises(message="first"), "demo.notify": raises(message="notify down")},
    )
    assert driver.status is RunStatus.FAILED and driver.outcome.error["stepId"] == "notify"
    driver.retry("notify")
    assert driver.state["root"] == {
        "s": "guard",
        "b": "catch",
        "e": driver.vars["err"],
        "c": {"s": "which", "b": "then", "c": {"s": "notify", "st": "new"}},
    }
    driver.actions["demo.notify"] = "sent"
    assert driver.play().status is RunStatus.SUCCEEDED
    assert driver.vars["seen"] == "first" and driver.vars["end"] is True


def test_retry_from_a_step_inside_a_loop_is_refused() -> None:
    definition = workflow(
        [{"id": "loop", "type": "control.forEach", "items": [1], "body": [action("inner")]}]
    )
    driver = play(definition, None, {"demo.act": raises()})
    with pytest.raises(ConflictError):
        retry_state(definition, driver.state, "inner")
    with pytest.raises(NotFoundError):
        retry_state(definition, driver.state, "nope")
    # The failed step itself may be retried, and so may the loop.
    driver.actions["demo.act"] = "ok"
    driver.retry()
    assert driver.play().status is RunStatus.SUCCEEDED
    looped = play(definition, None, {"demo.act": raises()})
    looped.retry("loop")
    looped.actions["demo.act"] = "ok"
    assert looped.play().status is RunStatus.SUCCEEDED


def test_retry_of_a_failed_loop_item_restarts_its_siblings() -> None:
    definition = workflow(
        [
            {
                "id": "loop",
                "type": "control.forEach",
                "items": [1, 2, 3],
                "concurrency": 3,
                "collect": expr("vars.r"),
                "saveAs": "vars.out",
                "body": [
                    {
                        "id": "branch",
                        "type": "control.if",
                        "condition": expr("vars.item = 2"),
                        "then": [action("bad", "demo.bad", save_as="vars.r")],
                        "else": [
                            {
                                "id": "approve",
                                "type": "human.task",
                                "config": {"title": "t", "formSchema": {}, "saveAs": "vars.r"},
                            }
                        ],
                    }
                ],
            }
        ]
    )
    driver = Driver(definition, None, {"demo.bad": raises()})
    driver.advance()
    tasks = [c for c in driver.commands if isinstance(c, CreateTask)]
    assert [t.task_id for t in tasks] == [
        task_id(RUN.run_id, "loop[0]/approve", 1),
        task_id(RUN.run_id, "loop[2]/approve", 1),
    ]
    driver.complete_task("loop[0]/approve", "zero")
    outcome = driver.play()
    assert outcome.status is RunStatus.FAILED
    assert driver.canceled == ["loop[2]/approve"]
    driver.retry()
    driver.actions["demo.bad"] = "two"
    outcome = driver.advance()
    new_tasks = [c for c in outcome.commands if isinstance(c, CreateTask)]
    assert [t.task_id for t in new_tasks] == [task_id(RUN.run_id, "loop[2]/approve#1", 1)]
    driver.play()
    driver.complete_task("loop[2]/approve", "three")
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.vars["out"] == ["zero", "two", "three"]


def test_retry_of_a_failed_child_starts_a_new_child() -> None:
    definition = workflow([{"id": "sub", "type": "control.callWorkflow", "workflowKey": "child"}])
    driver = Driver(definition)
    driver.advance()
    driver.finish_child("sub", RunStatus.FAILED, error={"message": "x"})
    driver.retry()
    (start,) = driver.advance().commands
    assert isinstance(start, StartChild)
    assert (
        start.child_run_id == child_run_id(RUN.run_id, "sub#1") != child_run_id(RUN.run_id, "sub")
    )


def test_retry_of_a_canceled_run_restarts_where_it_was() -> None:
    definition = workflow(
        [
            {"id": "t", "type": "time.wait", "config": {"durationMs": 1000}},
            assign("a", **{"vars.a": 1}),
        ]
    )
    driver = Driver(definition)
    driver.advance()
    driver.retry()  # as after an operator cancel
    outcome = driver.advance()
    assert [type(c) for c in outcome.commands] == [WaitUntil]


def test_retry_without_a_position_needs_a_step() -> None:
    definition = workflow([assign("a", **{"vars.a": 1})])
    driver = play(definition)
    with pytest.raises(ConflictError):
        retry_state(definition, driver.state)
    driver.retry("a", {"new": True})
    assert driver.play().status is RunStatus.SUCCEEDED
    assert driver.state["envelope"]["payload"] == {"new": True}


def test_resume_timers_lists_time_waits_and_retry_timers_only() -> None:
    definition = workflow(
        [
            {
                "id": "fan",
                "type": "control.parallel",
                "branches": [
                    {
                        "id": "a",
                        "steps": [
                            {"id": "sleep", "type": "time.wait", "config": {"durationMs": 60_000}}
                        ],
                    },
                    {
                        "id": "b",
                        "steps": [action("call", retry={"maxAttempts": 2, "backoffMs": 60_000})],
                    },
                    {
                        "id": "c",
                        "steps": [{"id": "w", "type": "event.wait", "config": {"eventName": "e"}}],
                    },
                ],
            }
        ]
    )
    driver = Driver(definition, None, {"demo.act": raises("TransientError")})
    driver.advance()
    driver.play(fire_timers=False)
    assert driver.status is RunStatus.WAITING
    tokens = resume_timers(driver.state)
    assert tokens == ["fan:a/sleep", "fan:b/call"]
    for token in tokens:
        driver.fire(token)
    assert [c.token for c in driver.calls.values()] == ["fan:b/call"]
    assert resume_timers({"status": "SUCCEEDED", "root": None}) == []
