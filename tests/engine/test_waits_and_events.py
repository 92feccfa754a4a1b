"""Waits, events, triggers, timers and human tasks through the public API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from builders import HOUR_MS, event_wait, expr, state_set, time_wait, workflow
from flowpin.errors import ConflictError, FlowpinError


def waiter(key: str = "waiter", on_timeout: str = "fail", **extra: object) -> dict:
    return workflow(
        key,
        event_wait(
            "wait",
            "email.opened",
            timeoutMs=3 * 86_400_000,
            saveAs="vars.opened",
            onTimeout=on_timeout,
            **extra,
        ),
        {
            "id": "route",
            "type": "control.if",
            "condition": expr("meta.timedOut = true"),
            "then": [state_set("late", "TIMED_OUT")],
            "else": [state_set("seen", "OPENED")],
        },
    )


def test_event_resumes_the_matching_run_only(harness) -> None:
    engine = harness.engine
    engine.publish(waiter())
    a = engine.start("waiter", {}, subject="contact-a")
    b = engine.start("waiter", {}, subject="contact-b")
    harness.work()
    assert engine.get_run(a)["status"] == "WAITING"
    assert engine.get_run(a)["waitingFor"][0]["eventName"] == "email.opened"
    outcome = engine.send_event("email.opened", "contact-a", {"campaign": 7})
    assert outcome.resumed == [a]
    harness.work()
    run_a = engine.get_run(a)
    assert run_a["status"] == "SUCCEEDED"
    assert run_a["state"]["vars"]["opened"] == {"campaign": 7}
    assert run_a["state"]["meta"]["state"] == "OPENED"
    assert run_a["state"]["meta"]["lastEvent"]["key"] == "contact-a"
    assert engine.get_run(b)["status"] == "WAITING"


def test_event_for_unknown_run_is_stored_and_harmless(harness) -> None:
    outcome = harness.engine.send_event("email.opened", "nobody", {"x": 1})
    assert outcome.resumed == [] and outcome.started == []


def test_wait_filter(harness) -> None:
    engine = harness.engine
    engine.publish(waiter(filter={"$expr": "event.payload.campaign = 2"}))
    run = engine.start("waiter", {}, subject="c")
    harness.work()
    assert engine.send_event("email.opened", "c", {"campaign": 1}).resumed == []
    assert engine.send_event("email.opened", "c", {"campaign": 2}).resumed == [run]


@pytest.mark.parametrize("on_timeout", ["continue", "fail"])
def test_timeout(harness, on_timeout: str) -> None:
    engine = harness.engine
    engine.publish(waiter(on_timeout=on_timeout))
    run = engine.start("waiter", {}, subject="c")
    harness.work()
    harness.advance(days=2)
    assert engine.get_run(run)["status"] == "WAITING"
    harness.advance(days=1, seconds=1)
    result = engine.get_run(run)
    if on_timeout == "continue":
        assert result["status"] == "SUCCEEDED"
        assert result["state"]["meta"]["state"] == "TIMED_OUT"
        assert result["state"]["vars"]["opened"] is None
    else:
        assert result["status"] == "FAILED"
        assert result["error"]["category"] == "TimeoutError"
    # a late event resumes nothing
    assert engine.send_event("email.opened", "c", {}).resumed == []


def test_event_id_deduplicates(harness) -> None:
    engine = harness.engine
    engine.publish(waiter())
    run = engine.start("waiter", {}, subject="c")
    harness.work()
    first = engine.send_event("email.opened", "c", {}, event_id="evt-1")
    second = engine.send_event("email.opened", "c", {}, event_id="evt-1")
    assert first.resumed == [run]
    assert second.duplicate and second.resumed == [run]


def test_ttl_buffers_event_for_a_wait_that_registers_later(harness) -> None:
    engine = harness.engine
    engine.publish(waiter())
    outcome = engine.send_event("email.opened", "early", {"n": 1}, ttl_ms=60_000)
    assert outcome.resumed == []
    run = engine.start("waiter", {}, subject="early")
    harness.work()
    result = engine.get_run(run)
    assert result["status"] == "SUCCEEDED"
    assert result["state"]["vars"]["opened"] == {"n": 1}


def test_expired_ttl_event_is_not_delivered(harness) -> None:
    engine = harness.engine
    engine.publish(waiter())
    engine.send_event("email.opened", "late", {"n": 1}, ttl_ms=1000)
    harness.clock.advance(2)
    run = engine.start("waiter", {}, subject="late")
    harness.work()
    assert engine.get_run(run)["status"] == "WAITING"


def journey(reentry: str) -> dict:
    return {
        "key": f"journey-{reentry.lower()}",
        "triggers": [
            {
                "type": "event",
                "eventName": "contact.signed_up",
                "subject": {"$expr": "event.payload.contactId"},
                "payloadMapping": {"contact": {"$expr": "event.payload"}},
                "filter": {"$expr": "event.payload.subscribed = true"},
                "reentry": reentry,
            },
        ],
        "steps": [time_wait("hold", HOUR_MS)],
        "output": {"$expr": "payload.contact.contactId"},
    }


@pytest.mark.parametrize(
    ("reentry", "expected"), [("always", 3), ("never", 1), ("notWhileActive", 2)]
)
def test_trigger_reentry_rules(harness, reentry: str, expected: int) -> None:
    engine = harness.engine
    engine.publish(journey(reentry))
    payload = {"contactId": "c1", "subscribed": True}
    first = engine.send_event("contact.signed_up", "c1", payload)
    assert len(first.started) == 1
    engine.send_event("contact.signed_up", "c1", payload)  # while the first is active
    harness.advance(hours=2)  # first run finishes
    engine.send_event("contact.signed_up", "c1", payload)
    runs = engine.list_runs(workflow=f"journey-{reentry.lower()}")
    assert len(runs) == expected
    assert all(r["subject"] == "c1" for r in runs)


def test_trigger_filter_rejects(harness) -> None:
    engine = harness.engine
    engine.publish(journey("always"))
    out = engine.send_event("contact.signed_up", "c2", {"contactId": "c2", "subscribed": False})
    assert out.started == []


def test_a_trigger_filter_may_be_rules(harness) -> None:
    """The designer's rule builder writes a trigger's filter as rules over ``event`` (SPEC
    §3.2): only the events they accept start runs (before, any rule object accepted all)."""
    engine = harness.engine
    definition = journey("always")
    definition["triggers"][0]["filter"] = {
        "all": [
            {"field": "event.payload.subscribed", "op": "equals", "value": True},
            {"field": "event.payload.plan", "op": "contains", "value": "pro"},
        ]
    }
    engine.publish(definition)
    refused = {"contactId": "c3", "subscribed": True, "plan": "free"}
    assert engine.send_event("contact.signed_up", "c3", refused).started == []
    accepted = {"contactId": "c4", "subscribed": True, "plan": "pro-yearly"}
    assert len(engine.send_event("contact.signed_up", "c4", accepted).started) == 1


def test_a_malformed_rule_filter_is_refused_at_publish(harness) -> None:
    definition = journey("always")
    definition["triggers"][0]["filter"] = {"field": "event.payload.plan", "op": "eq", "value": 1}
    with pytest.raises(FlowpinError) as refused:
        harness.engine.publish(definition)
    assert "unknown operator" in str(refused.value)


def test_a_rule_filter_on_anything_but_the_event_is_refused_at_publish(harness) -> None:
    """Only ``event`` exists when a trigger's filter is checked: a rule on ``payload.plan``
    would never match, so publishing says where the field is."""
    definition = journey("always")
    definition["triggers"][0]["filter"] = {"field": "payload.plan", "op": "equals", "value": "pro"}
    with pytest.raises(FlowpinError) as refused:
        harness.engine.publish(definition)
    assert "did you mean event.payload.plan?" in str(refused.value)


def test_a_wait_filter_may_be_rules(harness) -> None:
    """An ``event.wait`` filter as rules over the event and the run (SPEC §3.2): the wait is
    resolved only by an event they accept (before, any rule object failed the step)."""
    engine = harness.engine
    rules = {
        "all": [
            {"field": "event.payload.kind", "op": "equals", "value": "open"},
            {"field": "event.payload.count", "op": "greaterThan", "value": {"$expr": "payload.n"}},
        ]
    }
    engine.publish(waiter("ruled", filter=rules))
    run_id = engine.start("ruled", {"n": 2}, subject="r1")
    harness.work()
    assert engine.get_run(run_id)["status"] == "WAITING"
    assert engine.send_event("email.opened", "r1", {"kind": "open", "count": 2}).resumed == []
    assert engine.send_event("email.opened", "r1", {"kind": "bounce", "count": 5}).resumed == []
    assert engine.send_event("email.opened", "r1", {"kind": "open", "count": 3}).resumed == [run_id]
    harness.work()
    assert engine.get_run(run_id)["state"]["meta"]["state"] == "OPENED"


def test_a_malformed_wait_rule_is_refused_at_publish(harness) -> None:
    bad = {"field": "event.payload.kind", "op": "is", "value": "open"}
    with pytest.raises(FlowpinError) as refused:
        harness.engine.publish(waiter("bad", filter=bad))
    assert "unknown operator" in str(refused.value)


def test_three_day_time_wait_passes_instantly_with_the_kit() -> None:
    from flowpin.testing.kit import WorkflowTestKit

    with WorkflowTestKit() as kit:
        kit.publish(workflow("slow", time_wait("nap", 3 * 86_400_000), state_set("done", "DONE")))
        run_id = kit.start("slow", {})
        kit.run_until_idle()
        assert kit.get_run(run_id)["status"] == "WAITING"
        kit.run_to_completion()
        run = kit.get_run(run_id)
        assert run["status"] == "SUCCEEDED"
        assert run["state"]["meta"]["state"] == "DONE"


def approval() -> dict:
    return {
        "key": "approval",
        "steps": [
            {
                "id": "ask",
                "type": "human.task",
                "config": {
                    "title": {"$expr": "'Approve ' & payload.item"},
                    "assignee": "manager",
                    "formSchema": {
                        "type": "object",
                        "required": ["approved"],
                        "properties": {"approved": {"type": "boolean"}},
                    },
                    "timeoutMs": 86_400_000,
                    "saveAs": "vars.decision",
                },
            },
        ],
        "output": {"$expr": "vars.decision.approved"},
    }


def test_human_task_completes_with_valid_data(harness) -> None:
    engine = harness.engine
    engine.publish(approval())
    run = engine.start("approval", {"item": "laptop"})
    harness.work()
    tasks = engine.list_tasks(assignee="manager")
    assert len(tasks) == 1 and tasks[0]["title"] == "Approve laptop"
    task_id = tasks[0]["taskId"]
    with pytest.raises(FlowpinError) as caught:
        engine.complete_task(task_id, {"approved": "yes"})
    assert caught.value.code == "task.invalid_data"
    engine.complete_task(task_id, {"approved": True})
    with pytest.raises(ConflictError):
        engine.complete_task(task_id, {"approved": False})
    harness.work()
    result = engine.get_run(run)
    assert result["status"] == "SUCCEEDED"
    assert result["output"] is True


def test_human_task_times_out(harness) -> None:
    engine = harness.engine
    engine.publish(approval())
    run = engine.start("approval", {"item": "car"})
    harness.work()
    harness.advance(days=1, seconds=1)
    result = engine.get_run(run)
    assert result["status"] == "FAILED"
    assert result["error"]["category"] == "TimeoutError"
    assert engine.list_tasks(status="timed_out")[0]["runId"] == run


def test_schedule_fires_once_per_slot(harness) -> None:
    engine = harness.engine
    engine.publish(
        {
            "key": "nightly",
            "triggers": [
                {
                    "type": "schedule",
                    "cron": "0 * * * *",
                    "timezone": "Europe/Berlin",
                    "payload": {"kind": "hourly"},
                }
            ],
            "steps": [state_set("s", "RAN")],
        }
    )
    harness.advance(hours=3)
    runs = engine.list_runs(workflow="nightly")
    assert len(runs) == 3
    assert all(r["status"] == "SUCCEEDED" for r in runs)


def test_an_event_with_an_impossible_ttl_is_refused_alone(harness) -> None:
    """A ttlMs below 0 or beyond a year is the caller's error, raised before the event joins a
    group commit (where it would fail other callers' events too)."""
    engine = harness.engine
    for ttl in (-1, 2**63):
        with pytest.raises(FlowpinError) as refused:
            engine.send_event("email.opened", "k", ttl_ms=ttl)
        assert refused.value.code == "event.invalid"
    assert engine.send_event("email.opened", "k", ttl_ms=366 * 24 * 3600 * 1000).duplicate is False


def test_next_due_says_when_a_worker_next_has_something_to_do(harness) -> None:
    engine = harness.engine
    assert engine.next_due() is None  # nothing at all
    engine.publish(workflow("nap", time_wait("nap", 60_000)))
    engine.start("nap", {})
    assert engine.next_due() == harness.clock.now()  # a new run: now
    harness.work()
    assert engine.next_due() == harness.clock.now() + timedelta(minutes=1)  # its timer
    harness.advance(minutes=1)
    assert engine.next_due() is None
