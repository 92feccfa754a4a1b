"""state.set, transform.assign, action.call, definition output, and the shape of a run."""

from __future__ import annotations

import json

from driver import RUN, Driver, action, assign, expr, play, workflow

from flowpin.runtime.decisions import CallAction
from flowpin.runtime.ids import idempotency_key
from flowpin.types import RunStatus


def test_empty_workflow_succeeds_with_null_output() -> None:
    driver = play(workflow([]))
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.outcome is not None and driver.outcome.output is None


def test_state_set_and_assign_use_the_pre_step_envelope() -> None:
    definition = workflow(
        [
            {"id": "s", "type": "state.set", "config": {"state": "CREATING"}},
            assign("a", **{"vars.x": 1, "vars.y": 2}),
            assign(
                "swap",
                **{
                    "vars.x": expr("vars.y"),
                    "vars.y": expr("vars.x"),
                    "meta.sum": expr("vars.x + vars.y"),
                },
            ),
            assign("p", **{"payload.extra": expr("payload.n * 2")}),
        ],
        output={"$expr": "{'vars': vars, 'meta': meta, 'payload': payload}"},
    )
    driver = play(definition, {"n": 21})
    assert driver.status is RunStatus.SUCCEEDED
    output = driver.outcome.output
    assert output["vars"] == {"x": 2, "y": 1}
    assert output["meta"] == {"state": "CREATING", "sum": 3}
    assert output["payload"] == {"n": 21, "extra": 42}
    assert [e.status for e in driver.history] == ["succeeded"] * 4
    assert driver.history[2].output == {"vars.x": 2, "vars.y": 1, "meta.sum": 3}


def test_action_call_resolves_input_keeps_secrets_and_saves_output() -> None:
    definition = workflow(
        [
            action(
                "create",
                "crm.create",
                save_as="vars.ticket",
                inputMapping={
                    "subject": expr("payload.subject"),
                    "token": {"$secret": "CRM_TOKEN"},
                    "nested": {"list": [expr("payload.n"), 2]},
                },
                timeoutMs=5000,
            ),
        ],
        output=expr("vars.ticket.id"),
    )
    driver = Driver(definition, {"subject": "hi", "n": 1}, {"crm.create": lambda args: {"id": 7}})
    first = driver.advance()
    assert first.status is RunStatus.RUNNING
    assert first.current_steps == ["create"]
    (call,) = first.commands
    assert isinstance(call, CallAction)
    assert call.input == {
        "subject": "hi",
        "token": {"$secret": "CRM_TOKEN"},
        "nested": {"list": [1, 2]},
    }
    assert call.attempt == 1 and call.timeout_ms == 5000 and call.token == "create"
    assert call.idempotency_key == idempotency_key(RUN.run_id, "create", "crm.create", 1)
    assert first.history == []  # a row is written when the attempt ends
    final = driver.play()
    (entry,) = driver.history
    assert (entry.status, entry.input, entry.output) == ("succeeded", call.input, {"id": 7})
    assert final.status is RunStatus.SUCCEEDED and final.output == 7
    assert driver.vars == {"ticket": {"id": 7}}


def test_idempotency_key_value_is_stringified() -> None:
    definition = workflow(
        [
            action("a", idempotencyKey=expr("payload.id")),
            action("b", idempotencyKey={"order": expr("payload.id")}),
            action("c", idempotencyKey="fixed"),
        ]
    )
    driver = play(definition, {"id": 42}, {"demo.act": None})
    keys = [call.idempotency_key for call in driver.all_calls]
    assert keys == ["42", '{"order":42}', "fixed"]


def test_default_keys_differ_per_step_and_loop_index() -> None:
    definition = workflow(
        [
            action("a"),
            {"id": "loop", "type": "control.forEach", "items": [1, 2], "body": [action("b")]},
        ]
    )
    driver = play(definition, None, {"demo.act": 1})
    keys = [call.idempotency_key for call in driver.all_calls]
    assert len(set(keys)) == 3
    assert [call.token for call in driver.all_calls] == ["a", "loop[0]/b", "loop[1]/b"]


def test_expressions_see_run_and_logical_time() -> None:
    definition = workflow(
        [
            assign(
                "a",
                **{
                    "vars.run": expr("run"),
                    "vars.now": expr("$now()"),
                    "vars.ms": expr("$millis()"),
                },
            )
        ]
    )
    driver = play(definition)
    assert driver.vars["run"] == RUN.to_envelope()
    assert driver.vars["now"] == "2026-01-01T00:00:00.000Z"
    assert driver.vars["ms"] == 1767225600000


def test_now_is_the_time_of_the_resuming_input() -> None:
    definition = workflow([action("a"), assign("b", **{"vars.now": expr("$now()")})])
    driver = Driver(definition, None, {"demo.act": 1})
    driver.advance()
    driver.tick(__import__("datetime").timedelta(seconds=90))
    driver.play()
    assert driver.vars["now"] == "2026-01-01T00:01:30.000Z"
    assert driver.history[-1].at == driver.now


def test_random_is_reproducible() -> None:
    definition = workflow([assign("a", **{"vars.r": expr("$random()")})])
    first = play(definition).vars["r"]
    second = play(definition).vars["r"]
    assert first == second and 0 <= first < 1


def test_state_is_json_and_the_input_state_is_not_mutated() -> None:
    definition = workflow(
        [
            assign("a", **{"vars.list": [1, 2], "vars.obj": {"k": 1}}),
            action("b", save_as="vars.obj.result"),
            assign("c", **{"vars.obj.k": 2}),
        ]
    )
    driver = Driver(definition, {"p": 1}, {"demo.act": {"out": 1}})
    driver.advance()
    before = json.loads(json.dumps(driver.state))
    snapshot = driver.state
    driver.play()
    assert snapshot == before
    json.dumps(driver.state)
    assert driver.vars == {"list": [1, 2], "obj": {"k": 2, "result": {"out": 1}}}


def test_history_outputs_are_not_changed_by_later_writes() -> None:
    definition = workflow([action("a", save_as="vars.obj"), assign("b", **{"vars.obj.extra": 1})])
    driver = play(definition, None, {"demo.act": {"id": 1}})
    succeeded = [e for e in driver.history if e.step_id == "a" and e.status == "succeeded"]
    assert succeeded[0].output == {"id": 1}
    assert driver.vars["obj"] == {"id": 1, "extra": 1}


def test_invalid_node_config_fails_with_validation_error() -> None:
    definition = workflow([{"id": "bad", "type": "action.call", "config": {"version": 1}}])
    driver = play(definition)
    assert driver.status is RunStatus.FAILED
    assert driver.outcome.error["category"] == "ValidationError"
    assert driver.outcome.error["stepId"] == "bad"


def test_unknown_node_type_fails_with_validation_error() -> None:
    driver = play(workflow([{"id": "x", "type": "custom.thing", "config": {}}]))
    assert driver.status is RunStatus.FAILED
    assert "custom.thing" in driver.outcome.error["message"]


def test_expression_error_fails_the_run_with_the_expression() -> None:
    driver = play(workflow([assign("a", **{"vars.x": expr("$nope(")})]))
    error = driver.outcome.error
    assert error["category"] == "ExpressionError"
    assert error["stepId"] == "a" and error["attempt"] == 1
    assert error["at"] == "2026-01-01T00:00:00Z"
    assert error["data"]["expression"] == "$nope("


def test_output_expression_failure_fails_the_run() -> None:
    driver = play(workflow([], output=expr("$nope(")))
    assert driver.status is RunStatus.FAILED
    assert driver.outcome.error["category"] == "ExpressionError"


def test_determinism_same_inputs_same_outcome() -> None:
    definition = workflow(
        [
            action("a", save_as="vars.a"),
            {
                "id": "emit",
                "type": "event.emit",
                "config": {"eventName": "x", "correlationKey": "k"},
            },
            {"id": "child", "type": "control.callWorkflow", "workflowKey": "other", "wait": False},
            {
                "id": "task",
                "type": "human.task",
                "config": {"title": "Approve", "formSchema": {"type": "object"}},
            },
        ]
    )

    def run_once() -> list:
        driver = play(definition, {"x": 1}, {"demo.act": {"ok": True}})
        return [driver.commands, driver.history, driver.state]

    assert run_once() == run_once()
