"""event.wait, time.wait, human.task and event.emit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from driver import RUN, T0, Driver, assign, expr, play, workflow

from flowpin.runtime.decisions import CreateTask, EmitEvent, WaitForEvent, WaitUntil
from flowpin.runtime.ids import event_id, task_id
from flowpin.types import RunStatus


def wait_step(**config: object) -> dict:
    return {"id": "w", "type": "event.wait", "config": {"eventName": "reply", **config}}


def test_event_wait_parks_and_resumes_with_the_event() -> None:
    definition = workflow(
        [wait_step(saveAs="vars.reply", timeoutMs=60_000)], output=expr("vars.reply.text")
    )
    driver = Driver(definition)
    outcome = driver.advance()
    assert outcome.status is RunStatus.WAITING and outcome.current_steps == ["w"]
    (wait,) = outcome.commands
    assert isinstance(wait, WaitForEvent)
    assert wait.correlation_key == RUN.subject
    assert wait.filter is None and wait.filter_envelope is None
    assert wait.due_at == T0 + timedelta(minutes=1)
    assert driver.state["root"]["due"] == "2026-01-01T00:01:00Z"
    driver.tick(timedelta(seconds=5))
    final = driver.send_event("w", {"text": "hello"}, id="e-9", receivedAt="2026-01-01T00:00:05Z")
    assert final.status is RunStatus.SUCCEEDED and final.output == "hello"
    assert driver.meta == {
        "lastEvent": {
            "id": "e-9",
            "name": "reply",
            "key": "subject-1",
            "receivedAt": "2026-01-01T00:00:05Z",
        },
        "timedOut": False,
    }


def test_event_wait_filter_and_correlation_key() -> None:
    definition = workflow(
        [
            assign("a", **{"vars.want": "yes"}),
            wait_step(
                correlationKey=expr("payload.id"), filter=expr("event.payload.ok = vars.want")
            ),
        ]
    )
    outcome = Driver(definition, {"id": 12}).advance()
    wait = outcome.commands[0]
    assert isinstance(wait, WaitForEvent)
    assert wait.correlation_key == "12"
    assert wait.filter == "event.payload.ok = vars.want"
    assert wait.filter_envelope is not None
    assert wait.filter_envelope["vars"] == {"want": "yes"}
    assert wait.filter_envelope["run"]["id"] == RUN.run_id


def test_event_wait_with_a_broken_filter_fails_at_park_time() -> None:
    driver = play(workflow([wait_step(filter=expr("event.("))]))
    assert driver.status is RunStatus.FAILED
    assert driver.outcome.error["category"] == "ExpressionError"


def test_event_wait_timeout_continue_sets_null_and_timed_out() -> None:
    definition = workflow(
        [
            wait_step(saveAs="vars.reply", timeoutMs=1000, onTimeout="continue"),
            {
                "id": "route",
                "type": "control.if",
                "condition": expr("meta.timedOut"),
                "then": [assign("t", **{"vars.path": "timeout"})],
                "else": [assign("e", **{"vars.path": "event"})],
            },
        ]
    )
    driver = Driver(definition)
    driver.advance()
    outcome = driver.timeout("w")
    assert outcome.status is RunStatus.SUCCEEDED
    assert driver.vars == {"reply": None, "path": "timeout"}
    assert driver.meta["timedOut"] is True


def test_event_wait_timeout_fail_raises_timeout_error() -> None:
    driver = Driver(workflow([wait_step(timeoutMs=1000)]))
    driver.advance()
    outcome = driver.timeout("w")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error["category"] == "TimeoutError"
    assert outcome.error["at"] == "2026-01-01T00:00:01Z"


def test_event_wait_timeout_is_retried_under_a_policy() -> None:
    step = wait_step(timeoutMs=1000)
    step["retry"] = {"maxAttempts": 2, "backoffMs": 0}
    driver = Driver(workflow([step]))
    driver.advance()
    outcome = driver.timeout("w")
    assert outcome.status is RunStatus.WAITING
    assert isinstance(outcome.commands[0], WaitForEvent)
    assert driver.state["root"]["n"] == 2
    assert driver.timeout("w").status is RunStatus.FAILED


def test_stale_wait_inputs_are_ignored() -> None:
    driver = Driver(workflow([wait_step()]))
    driver.advance()
    from flowpin.runtime.decisions import WaitResolved

    for stale in (
        WaitResolved("w", "timer", T0),
        WaitResolved("w", "task", T0, data={}),
        WaitResolved("nope", "event", T0, event={}),
        WaitResolved("x[0]/w", "event", T0, event={}),
        WaitResolved("", "event", T0, event={}),
    ):
        outcome = driver.advance([stale])
        assert outcome.status is RunStatus.WAITING and outcome.commands == []
    event = {"id": "e", "name": "reply", "key": "k", "payload": 1, "receivedAt": "x"}
    assert (
        driver.advance([WaitResolved("w", "event", T0, event=event)]).status is RunStatus.SUCCEEDED
    )
    again = driver.advance([WaitResolved("w", "event", T0, event=event)])
    assert again.status is RunStatus.SUCCEEDED and again.history == []


def test_time_wait_duration_and_until() -> None:
    definition = workflow(
        [
            {"id": "d", "type": "time.wait", "config": {"durationMs": 3_600_000}},
            {"id": "u", "type": "time.wait", "config": {"until": expr("payload.at")}},
            {"id": "past", "type": "time.wait", "config": {"until": "2020-01-01T00:00:00Z"}},
            assign("done", **{"vars.at": expr("$now()")}),
        ]
    )
    driver = Driver(definition, {"at": "2026-01-02T00:00:00Z"})
    outcome = driver.advance()
    (timer,) = outcome.commands
    assert isinstance(timer, WaitUntil) and timer.reason == "time.wait"
    assert timer.due_at == T0 + timedelta(hours=1)
    driver.now = timer.due_at
    outcome = driver.fire("d")
    (timer,) = outcome.commands
    assert timer.due_at == datetime(2026, 1, 2, tzinfo=UTC)
    driver.now = timer.due_at
    outcome = driver.fire("u")
    assert outcome.status is RunStatus.SUCCEEDED
    assert driver.vars["at"] == "2026-01-02T00:00:00.000Z"


def test_time_wait_rejects_bad_until_and_more_than_a_year() -> None:
    bad = play(workflow([{"id": "t", "type": "time.wait", "config": {"until": "soon"}}]))
    assert bad.outcome.error["category"] == "ValidationError"
    far = play(
        workflow([{"id": "t", "type": "time.wait", "config": {"until": "2030-01-01T00:00:00Z"}}])
    )
    assert far.outcome.error["category"] == "ValidationError"
    neither = play(workflow([{"id": "t", "type": "time.wait", "config": {}}]))
    assert neither.outcome.error["category"] == "ValidationError"


def test_human_task_created_and_completed() -> None:
    definition = workflow(
        [
            {
                "id": "approve",
                "type": "human.task",
                "config": {
                    "title": expr("'Approve ' & payload.what"),
                    "assignee": "ops",
                    "formSchema": {"type": "object"},
                    "timeoutMs": 86_400_000,
                    "saveAs": "vars.decision",
                },
            }
        ],
        output=expr("vars.decision.ok"),
    )
    driver = Driver(definition, {"what": "refund"})
    outcome = driver.advance()
    (task,) = outcome.commands
    assert isinstance(task, CreateTask)
    assert task.title == "Approve refund" and task.assignee == "ops" and task.description is None
    assert task.due_at == T0 + timedelta(days=1)
    assert task.task_id == task_id(RUN.run_id, "approve", 1)
    assert outcome.status is RunStatus.WAITING
    final = driver.complete_task("approve", {"ok": True})
    assert final.status is RunStatus.SUCCEEDED and final.output is True


def test_human_task_timeout_is_a_timeout_error() -> None:
    definition = workflow(
        [
            {
                "id": "t",
                "type": "human.task",
                "config": {"title": "x", "formSchema": {}, "timeoutMs": 10},
            }
        ]
    )
    driver = Driver(definition)
    driver.advance()
    outcome = driver.timeout("t")
    assert outcome.status is RunStatus.FAILED and outcome.error["category"] == "TimeoutError"


def test_event_emit_continues_immediately() -> None:
    definition = workflow(
        [
            {
                "id": "emit",
                "type": "event.emit",
                "config": {
                    "eventName": "ticket.created",
                    "correlationKey": expr("payload.id"),
                    "payload": {"id": expr("payload.id")},
                },
            },
            assign("after", **{"vars.done": True}),
        ]
    )
    driver = play(definition, {"id": "T-1"})
    assert driver.status is RunStatus.SUCCEEDED
    (emit,) = driver.emitted
    assert isinstance(emit, EmitEvent)
    assert (emit.name, emit.key, emit.payload) == ("ticket.created", "T-1", {"id": "T-1"})
    assert emit.event_id == event_id(RUN.run_id, "emit")
    assert driver.vars == {"done": True}
