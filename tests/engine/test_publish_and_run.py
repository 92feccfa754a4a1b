"""Publishing, version pinning and running the basic step types through the public API, on a
real database."""

from __future__ import annotations

import pytest

import sample_actions
from builders import action_call, event_wait, expr, workflow
from flowpin.errors import DefinitionError, NotFoundError


def hello(key: str = "hello", greeting: str = "Hello") -> dict:
    return {
        "key": key,
        "steps": [
            {"id": "mark", "type": "state.set", "config": {"state": "GREETING"}},
            {
                "id": "compose",
                "type": "transform.assign",
                "config": {
                    "assign": {
                        "vars.message": {"$expr": f"'{greeting}, ' & payload.name"},
                        "vars.vip": {"$expr": "payload.plan = 'pro'"},
                    }
                },
            },
            {
                "id": "route",
                "type": "control.if",
                "condition": {"field": "payload.plan", "op": "equals", "value": "pro"},
                "then": [
                    {
                        "id": "vip",
                        "type": "control.return",
                        "output": {"$expr": "vars.message & '!'"},
                    }
                ],
            },
        ],
        "output": {"$expr": "vars.message"},
    }


def test_publish_is_content_addressed(harness) -> None:
    engine = harness.engine
    first = engine.publish(hello())
    again = engine.publish(hello())
    changed = engine.publish(hello(greeting="Hi"))
    assert (first.version, first.created) == (1, True)
    assert (again.version, again.created, again.hash) == (1, False, first.hash)
    assert (changed.version, changed.created) == (2, True)
    assert [v["version"] for v in engine.versions("hello")] == [1, 2]


def test_invalid_definition_is_refused_with_problems(harness) -> None:
    bad = hello()
    bad["steps"].append({"id": "mark", "type": "state.set", "config": {"state": "X"}})
    with pytest.raises(DefinitionError) as caught:
        harness.engine.publish(bad)
    codes = {p["code"] for p in caught.value.details}
    assert "DUPLICATE_STEP_ID" in codes
    with pytest.raises(NotFoundError):
        harness.engine.start("hello", {})


def test_run_succeeds_with_output_and_state(harness) -> None:
    run = harness.run(hello(), {"name": "Ada", "plan": "free"})
    assert run["status"] == "SUCCEEDED"
    assert run["output"] == "Hello, Ada"
    assert run["state"]["meta"]["state"] == "GREETING"
    assert run["state"]["vars"] == {"message": "Hello, Ada", "vip": False}
    assert run["waitingFor"] == []


def test_return_ends_the_run_early(harness) -> None:
    run = harness.run(hello(), {"name": "Ada", "plan": "pro"})
    assert run["status"] == "SUCCEEDED"
    assert run["output"] == "Hello, Ada!"


def test_runs_stay_pinned_to_their_version(harness) -> None:
    engine = harness.engine
    wait_def = {
        "key": "pinned",
        "steps": [
            event_wait("wait", "go", timeoutMs=60000),
            {"id": "say", "type": "transform.assign", "config": {"assign": {"vars.v": "one"}}},
        ],
    }
    engine.publish(wait_def)
    old = engine.start("pinned", {}, subject="s1")
    harness.work()
    wait_def["steps"][1]["config"]["assign"]["vars.v"] = "two"
    assert engine.publish(wait_def).version == 2
    new = engine.start("pinned", {}, subject="s2")
    harness.work()
    engine.send_event("go", "s1")
    engine.send_event("go", "s2")
    harness.work()
    assert engine.get_run(old)["version"] == 1
    assert engine.get_run(old)["state"]["vars"]["v"] == "one"
    assert engine.get_run(new)["version"] == 2
    assert engine.get_run(new)["state"]["vars"]["v"] == "two"


def test_start_by_version_and_idempotency_key(harness) -> None:
    engine = harness.engine
    engine.publish(hello())
    engine.publish(hello(greeting="Hi"))
    run_a = engine.start("hello", {"name": "A"}, version=1, idempotency_key="k1")
    run_b = engine.start("hello", {"name": "B"}, idempotency_key="k1")
    assert run_a == run_b
    harness.work()
    assert engine.get_run(run_a)["output"] == "Hello, A"


def test_payload_schema_is_enforced(harness) -> None:
    definition = hello("typed")
    definition["payloadSchema"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}},
    }
    harness.engine.publish(definition)
    from flowpin.errors import FlowpinError

    with pytest.raises(FlowpinError) as caught:
        harness.engine.start("typed", {"name": 42})
    assert caught.value.code == "run.invalid_payload"


def test_action_call_sync_and_async_with_history(harness) -> None:
    definition = workflow(
        "actions",
        action_call(
            "one", "test.echo", save_as="vars.one", inputMapping={"text": expr("payload.text")}
        ),
        action_call(
            "two",
            "test.echo_async",
            save_as="vars.two",
            inputMapping={"text": expr("vars.one.text")},
        ),
        output=expr("vars.two.text"),
    )
    run = harness.run(definition, {"text": "abc"})
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["output"] == "CBA"
    history = harness.engine.history(run["runId"])
    assert [
        (h["stepId"], h["status"])
        for h in history
        if h["type"] == "action.call" and h["status"] != "waiting"
    ] == [
        ("one", "succeeded"),
        ("two", "succeeded"),
    ]
    assert [c["text"] for c in sample_actions.CALLS] == ["abc"]


def test_invalid_action_input_fails_the_run_with_validation_error(harness) -> None:
    definition = workflow(
        "bad-input", action_call("one", "test.echo", inputMapping={"text": expr("payload.n")})
    )
    run = harness.run(definition, {"n": 5})
    assert run["status"] == "FAILED"
    assert run["error"]["category"] == "ValidationError"
    assert run["error"]["stepId"] == "one"


def test_pausing_a_workflow_holds_its_runs_until_it_resumes(harness) -> None:
    engine = harness.engine
    engine.publish(hello("pausable"))
    engine.update_workflow("pausable", paused=True)
    run = engine.start("pausable", {"name": "Ada", "plan": "free"})
    harness.work()  # returns: nothing of a paused workflow is due
    assert engine.get_run(run)["status"] == "PENDING"
    engine.update_workflow("pausable", paused=False)
    harness.work()
    assert engine.get_run(run)["status"] == "SUCCEEDED"


def test_run_input_over_the_limit_is_refused(harness) -> None:
    from flowpin.errors import LimitError

    harness.engine.publish(hello("sized"))
    with pytest.raises(LimitError) as caught:
        harness.engine.start("sized", {"name": "x" * (600 * 1024)})
    assert caught.value.code == "limit.input_size"
    assert harness.engine.list_runs(workflow="sized") == []


def test_action_output_over_the_limit_fails_the_step(harness) -> None:
    definition = workflow(
        "blobs",
        action_call("small", "test.blob", save_as="vars.small", inputMapping={"bytes": 1000}),
        action_call(
            "huge", "test.blob", save_as="vars.huge", inputMapping={"bytes": 2 * 1024 * 1024}
        ),
    )
    run = harness.run(definition)
    assert run["status"] == "FAILED"
    assert run["error"]["stepId"] == "huge"
    assert run["error"]["category"] == "ValidationError"
    assert "limit" in run["error"]["message"]
    assert len(run["state"]["vars"]["small"]["data"]) == 1000
