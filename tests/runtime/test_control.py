"""control.* steps: branching, loops, parallel branches, tryCatch, return, fail, children."""

from __future__ import annotations

import sys

from driver import RUN, Driver, Fail, action, assign, expr, play, raises, workflow

from flowpin.runtime.decisions import CancelWait, StartChild, WaitForEvent
from flowpin.runtime.ids import child_run_id
from flowpin.types import RunStatus


def if_step(
    condition: object, then: list, otherwise: list | None = None, step_id: str = "if"
) -> dict:
    step = {"id": step_id, "type": "control.if", "condition": condition, "then": then}
    if otherwise is not None:
        step["else"] = otherwise
    return step


def wait(step_id: str, **config: object) -> dict:
    return {"id": step_id, "type": "event.wait", "config": {"eventName": "go", **config}}


# --------------------------------------------------------------------------- if / switch


def test_if_with_expression_rule_and_literal() -> None:
    definition = workflow(
        [
            if_step(
                expr("payload.plan = 'pro'"),
                [assign("a", **{"vars.a": "then"})],
                [assign("b", **{"vars.a": "else"})],
            ),
            if_step(
                {"field": "payload.plan", "op": "equals", "value": "pro"},
                [assign("c", **{"vars.rule": True})],
                step_id="if2",
            ),
            if_step(False, [assign("d", **{"vars.never": True})], step_id="if3"),
        ]
    )
    pro = play(definition, {"plan": "pro"})
    assert pro.vars == {"a": "then", "rule": True}
    free = play(definition, {"plan": "free"})
    assert free.vars == {"a": "else"}
    assert [e.output for e in free.history if e.step_id.startswith("if")] == [
        {"branch": "else"},
        {"branch": "else"},
        {"branch": "else"},
    ]


def test_if_condition_error_is_an_expression_error() -> None:
    driver = play(workflow([if_step(expr("$x("), [])]))
    assert driver.outcome.error["category"] == "ExpressionError"
    assert driver.outcome.error["stepId"] == "if"


def test_switch_first_matching_case_wins_else_default() -> None:
    definition = workflow(
        [
            {
                "id": "sw",
                "type": "control.switch",
                "cases": [
                    {
                        "id": "big",
                        "when": expr("payload.n > 100"),
                        "steps": [assign("a", **{"vars.c": "big"})],
                    },
                    {
                        "id": "mid",
                        "when": expr("payload.n > 10"),
                        "steps": [assign("b", **{"vars.c": "mid"})],
                    },
                    {
                        "id": "also",
                        "when": expr("payload.n > 5"),
                        "steps": [assign("c", **{"vars.c": "also"})],
                    },
                ],
                "default": [assign("d", **{"vars.c": "small"})],
            },
            assign("after", **{"vars.after": True}),
        ]
    )
    assert play(definition, {"n": 500}).vars == {"c": "big", "after": True}
    assert play(definition, {"n": 50}).vars == {"c": "mid", "after": True}
    assert play(definition, {"n": 1}).vars == {"c": "small", "after": True}


def test_switch_without_default_and_no_match_continues() -> None:
    definition = workflow(
        [
            {
                "id": "sw",
                "type": "control.switch",
                "cases": [{"id": "a", "when": False, "steps": []}],
            },
            assign("x", **{"vars.x": 1}),
        ]
    )
    assert play(definition).vars == {"x": 1}


# --------------------------------------------------------------------------- forEach


def loop(body: list, **fields: object) -> dict:
    return {
        "id": "loop",
        "type": "control.forEach",
        "items": expr("payload.items"),
        "body": body,
        **fields,
    }


def test_for_each_collects_in_item_order_with_isolated_vars() -> None:
    definition = workflow(
        [
            assign("init", **{"vars.outer": 1}),
            loop(
                [
                    assign(
                        "inner", **{"vars.outer": expr("vars.outer + vars.item"), "vars.tmp": 1}
                    ),
                    action(
                        "call",
                        save_as="vars.r",
                        inputMapping={"i": expr("vars.item"), "at": expr("vars.itemIndex")},
                    ),
                ],
                collect=expr("{'r': vars.r, 'outer': vars.outer}"),
                saveAs="vars.results",
            ),
        ]
    )
    driver = play(definition, {"items": [10, 20, 30]}, {"demo.act": lambda args: args["i"] * 2})
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.vars == {
        "outer": 1,
        "results": [{"r": 20, "outer": 11}, {"r": 40, "outer": 21}, {"r": 60, "outer": 31}],
    }
    assert [c.input for c in driver.all_calls] == [
        {"i": 10, "at": 0},
        {"i": 20, "at": 1},
        {"i": 30, "at": 2},
    ]


def test_for_each_concurrency_limits_calls_in_flight() -> None:
    definition = workflow(
        [
            loop(
                [action("call", save_as="vars.r")],
                concurrency=2,
                collect=expr("vars.r"),
                saveAs="vars.out",
            )
        ]
    )
    driver = Driver(
        definition, {"items": [1, 2, 3, 4, 5]}, {"demo.act": lambda args, call: call.token}
    )
    outcome = driver.advance()
    assert [c.token for c in outcome.commands] == ["loop[0]/call", "loop[1]/call"]
    assert outcome.current_steps == ["call"]
    # Answer the second first: the third starts, results stay in item order.
    second = driver.calls.pop("loop[1]/call")
    outcome = driver.advance([driver.answer(second)])
    assert [c.token for c in outcome.commands] == ["loop[2]/call"]
    assert len(driver.calls) == 2
    driver.play()
    assert driver.vars["out"] == [f"loop[{i}]/call" for i in range(5)]


def test_for_each_custom_item_var_empty_items_and_singleton() -> None:
    body = [assign("a", **{"vars.seen": expr("vars.row & '@' & $string(vars.rowIndex)")})]
    definition = workflow([loop(body, itemVar="row", collect=expr("vars.seen"), saveAs="vars.out")])
    assert play(definition, {"items": []}).vars == {"out": []}
    assert play(definition, {"items": None}).vars == {"out": []}
    assert play(definition, {"items": "x"}).vars == {"out": ["x@0"]}
    without_collect = workflow([loop(body, saveAs="vars.out")])
    assert play(without_collect, {"items": ["a", "b"]}).vars == {"out": [None, None]}


def test_for_each_on_item_error_continue_yields_error_items() -> None:
    def stub(args: dict) -> int:
        if args["i"] == 2:
            raise Fail("ActionError", "no two")
        return args["i"]

    definition = workflow(
        [
            loop(
                [action("call", save_as="vars.r", inputMapping={"i": expr("vars.item")})],
                collect=expr("vars.r"),
                saveAs="vars.out",
                onItemError="continue",
            )
        ]
    )
    driver = play(definition, {"items": [1, 2, 3]}, {"demo.act": stub})
    assert driver.status is RunStatus.SUCCEEDED
    out = driver.vars["out"]
    assert out[0] == 1 and out[2] == 3
    assert out[1]["error"]["category"] == "ActionError"
    assert out[1]["error"]["message"] == "no two"
    assert out[1]["error"]["stepId"] == "call"


def test_for_each_collect_error_is_an_item_error() -> None:
    definition = workflow(
        [loop([], collect=expr("$x("), saveAs="vars.out", onItemError="continue")]
    )
    driver = play(definition, {"items": [1]})
    assert driver.vars["out"][0]["error"]["category"] == "ExpressionError"
    assert driver.vars["out"][0]["error"]["stepId"] == "loop"
    failing = play(workflow([loop([], collect=expr("$x("))]), {"items": [1]})
    assert failing.status is RunStatus.FAILED


def test_for_each_item_failure_fails_loop_and_cancels_siblings() -> None:
    definition = workflow(
        [
            loop(
                [
                    if_step(expr("vars.item = 1"), [wait("w")], [action("call")]),
                ],
                concurrency=3,
            )
        ]
    )
    driver = Driver(definition, {"items": [1, 2]}, {"demo.act": raises()})
    outcome = driver.advance()
    assert {type(c) for c in outcome.commands} == {WaitForEvent, type(driver.all_calls[0])}
    outcome = driver.play()
    assert outcome.status is RunStatus.FAILED
    assert [c for c in outcome.commands if isinstance(c, CancelWait)] == [CancelWait("loop[0]/w")]
    assert "skipped" in driver.statuses("w")


# --------------------------------------------------------------------------- parallel


def test_parallel_branches_are_isolated_and_saved() -> None:
    definition = workflow(
        [
            assign("init", **{"vars.base": 1}),
            {
                "id": "fan",
                "type": "control.parallel",
                "saveAs": "vars.branches",
                "branches": [
                    {
                        "id": "left",
                        "steps": [
                            assign("l", **{"vars.base": 2, "vars.left": True}),
                            action("lc", save_as="vars.lr"),
                        ],
                    },
                    {
                        "id": "right",
                        "steps": [
                            action("rc", save_as="vars.rr"),
                            assign("r", **{"vars.right": expr("vars.base")}),
                        ],
                    },
                    {"id": "empty", "steps": []},
                ],
            },
        ]
    )
    driver = Driver(definition, None, {"demo.act": lambda args, call: call.token})
    outcome = driver.advance()
    assert sorted(c.token for c in outcome.commands) == ["fan:left/lc", "fan:right/rc"]
    assert sorted(outcome.current_steps) == ["lc", "rc"]
    driver.play()
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.vars == {
        "base": 1,
        "branches": {
            "left": {"base": 2, "left": True, "lr": "fan:left/lc"},
            "right": {"base": 1, "rr": "fan:right/rc", "right": 1},
            "empty": {"base": 1},
        },
    }


def test_parallel_failure_cancels_parked_siblings() -> None:
    definition = workflow(
        [
            {
                "id": "fan",
                "type": "control.parallel",
                "branches": [
                    {"id": "a", "steps": [wait("wa")]},
                    {
                        "id": "b",
                        "steps": [{"id": "t", "type": "time.wait", "config": {"durationMs": 1000}}],
                    },
                    {"id": "c", "steps": [action("boom")]},
                ],
            }
        ]
    )
    driver = Driver(definition, None, {"demo.act": raises("ValidationError", "bad")})
    outcome = driver.advance()
    assert outcome.status is RunStatus.RUNNING
    outcome = driver.play(fire_timers=False)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error["stepId"] == "boom"
    assert sorted(c.token for c in outcome.commands if isinstance(c, CancelWait)) == [
        "fan:a/wa",
        "fan:b/t",
    ]


def test_parallel_inside_try_is_caught_and_siblings_canceled() -> None:
    definition = workflow(
        [
            {
                "id": "try",
                "type": "control.tryCatch",
                "captureErrorAs": "vars.err",
                "try": [
                    {
                        "id": "fan",
                        "type": "control.parallel",
                        "branches": [
                            {"id": "a", "steps": [wait("wa")]},
                            {
                                "id": "b",
                                "steps": [{"id": "f", "type": "control.fail", "message": "nope"}],
                            },
                        ],
                    }
                ],
                "catch": [assign("handled", **{"vars.handled": True})],
            }
        ]
    )
    driver = play(definition)
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.canceled == ["fan:a/wa"]
    assert driver.vars["handled"] is True and driver.vars["err"]["message"] == "nope"
    from flowpin.runtime.decisions import WaitResolved

    stale = driver.advance([WaitResolved("fan:a/wa", "event", driver.now, event={})])
    assert stale.history == [] and stale.status is RunStatus.SUCCEEDED


# --------------------------------------------------------------------------- tryCatch / fail


def test_try_catch_captures_error_and_clears_it_after() -> None:
    definition = workflow(
        [
            {
                "id": "guard",
                "type": "control.tryCatch",
                "captureErrorAs": "vars.caught",
                "try": [
                    action("call", save_as="vars.never"),
                    assign("skipped", **{"vars.skipped": True}),
                ],
                "catch": [assign("seen", **{"vars.seenInCatch": expr("error.message")})],
            },
            assign("after", **{"vars.errorAfter": expr("error")}),
        ]
    )
    driver = play(definition, None, {"demo.act": raises("ActionError", "down")})
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.vars["seenInCatch"] == "down"
    assert (
        driver.vars["caught"]["category"] == "ActionError"
        and driver.vars["caught"]["stepId"] == "call"
    )
    assert driver.vars["errorAfter"] is None
    assert "never" not in driver.vars and "skipped" not in driver.vars
    assert driver.statuses("guard") == ["caught", "succeeded"]


def test_error_in_catch_propagates_to_outer_try() -> None:
    definition = workflow(
        [
            {
                "id": "outer",
                "type": "control.tryCatch",
                "captureErrorAs": "vars.outerErr",
                "try": [
                    {
                        "id": "inner",
                        "type": "control.tryCatch",
                        "try": [
                            {
                                "id": "f1",
                                "type": "control.fail",
                                "message": "first",
                                "category": "TransientError",
                            }
                        ],
                        "catch": [
                            {
                                "id": "f2",
                                "type": "control.fail",
                                "message": expr("'again: ' & error.message"),
                            }
                        ],
                    }
                ],
                "catch": [],
            }
        ]
    )
    driver = play(definition)
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.vars["outerErr"]["message"] == "again: first"
    assert driver.vars["outerErr"]["category"] == "ActionError"


def test_fail_without_handler_fails_the_run() -> None:
    definition = workflow(
        [
            {
                "id": "f",
                "type": "control.fail",
                "category": "ValidationError",
                "message": expr("'bad ' & payload.x"),
            }
        ]
    )
    driver = play(definition, {"x": "input"})
    assert driver.status is RunStatus.FAILED
    assert driver.outcome.error == {
        "category": "ValidationError",
        "message": "bad input",
        "stepId": "f",
        "attempt": 1,
        "at": "2026-01-01T00:00:00Z",
    }
    assert driver.state["envelope"]["error"] == driver.outcome.error
    assert driver.outcome.current_steps == []


# --------------------------------------------------------------------------- return


def test_return_from_inside_a_loop_ends_the_run() -> None:
    definition = workflow(
        [
            loop(
                [
                    if_step(
                        expr("vars.item = 3"),
                        [
                            {
                                "id": "ret",
                                "type": "control.return",
                                "output": expr("{'found': vars.itemIndex}"),
                            }
                        ],
                    ),
                    action("call"),
                ],
                concurrency=1,
            ),
            assign("never", **{"vars.never": True}),
        ],
        output="not this",
    )
    driver = play(definition, {"items": [1, 2, 3, 4]}, {"demo.act": 1})
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.outcome.output == {"found": 2}
    assert len(driver.all_calls) == 2
    assert driver.state["root"] is None


def test_return_cancels_parked_siblings_and_defaults_to_definition_output() -> None:
    definition = workflow(
        [
            assign("a", **{"vars.x": 5}),
            {
                "id": "fan",
                "type": "control.parallel",
                "branches": [
                    {"id": "w", "steps": [wait("wa")]},
                    {"id": "r", "steps": [{"id": "ret", "type": "control.return"}]},
                ],
            },
        ],
        output=expr("vars.x"),
    )
    driver = play(definition)
    assert driver.outcome.output == 5
    assert driver.canceled == ["fan:w/wa"]


# --------------------------------------------------------------------------- callWorkflow


def call_step(**fields: object) -> dict:
    return {
        "id": "child",
        "type": "control.callWorkflow",
        "workflowKey": "sub",
        "inputMapping": {"n": expr("payload.n")},
        "saveAs": "vars.child",
        **fields,
    }


def test_call_workflow_waits_for_the_child() -> None:
    driver = Driver(workflow([call_step(version=3)], output=expr("vars.child")), {"n": 1})
    outcome = driver.advance()
    (start,) = outcome.commands
    assert isinstance(start, StartChild)
    assert start.child_run_id == child_run_id(RUN.run_id, "child")
    assert (start.workflow_key, start.version, start.payload, start.wait) == (
        "sub",
        3,
        {"n": 1},
        True,
    )
    assert outcome.status is RunStatus.WAITING
    final = driver.finish_child("child", RunStatus.SUCCEEDED, output={"ok": 1})
    assert final.status is RunStatus.SUCCEEDED and final.output == {"ok": 1}


def test_call_workflow_without_wait_continues() -> None:
    driver = play(workflow([call_step(wait=False)]), {"n": 1})
    assert driver.status is RunStatus.SUCCEEDED
    assert driver.vars["child"] == {"runId": child_run_id(RUN.run_id, "child")}
    assert driver.commands[0].version == "latest"


def test_call_workflow_child_failure_is_an_action_error() -> None:
    driver = Driver(workflow([call_step()]), {"n": 1})
    driver.advance()
    child_error = {
        "category": "TimeoutError",
        "message": "slow",
        "stepId": "x",
        "attempt": 1,
        "at": "t",
    }
    outcome = driver.finish_child("child", RunStatus.FAILED, error=child_error)
    assert outcome.status is RunStatus.FAILED
    error = outcome.error
    assert error["category"] == "ActionError" and error["stepId"] == "child"
    assert error["data"]["error"] == child_error and error["data"]["status"] == "FAILED"
    assert "slow" in error["message"]


def test_call_workflow_canceled_child_inside_try() -> None:
    definition = workflow(
        [
            {
                "id": "t",
                "type": "control.tryCatch",
                "captureErrorAs": "vars.e",
                "try": [call_step()],
                "catch": [],
            }
        ]
    )
    driver = Driver(definition, {"n": 1})
    driver.advance()
    outcome = driver.finish_child("child", RunStatus.CANCELED)
    assert outcome.status is RunStatus.SUCCEEDED
    assert driver.vars["e"]["data"]["status"] == "CANCELED"


# --------------------------------------------------------------------------- nesting


def test_nested_control_flow_tokens() -> None:
    definition = workflow(
        [
            {
                "id": "outer",
                "type": "control.forEach",
                "items": [1, 2],
                "concurrency": 2,
                "body": [
                    {
                        "id": "fan",
                        "type": "control.parallel",
                        "branches": [
                            {
                                "id": "a",
                                "steps": [
                                    {
                                        "id": "try",
                                        "type": "control.tryCatch",
                                        "try": [action("x")],
                                        "catch": [],
                                    }
                                ],
                            },
                            {
                                "id": "b",
                                "steps": [
                                    {
                                        "id": "inner",
                                        "type": "control.forEach",
                                        "items": [1],
                                        "body": [action("y")],
                                    }
                                ],
                            },
                        ],
                    }
                ],
            }
        ]
    )
    driver = Driver(definition, None, {"demo.act": 1})
    outcome = driver.advance()
    assert sorted(c.token for c in outcome.commands) == [
        "outer[0]/fan:a/x",
        "outer[0]/fan:b/inner[0]/y",
        "outer[1]/fan:a/x",
        "outer[1]/fan:b/inner[0]/y",
    ]
    assert driver.play().status is RunStatus.SUCCEEDED


def test_deep_nesting_and_long_pipelines_do_not_recurse() -> None:
    depth = sys.getrecursionlimit() + 200
    # Build the model without pydantic's recursive validation of the whole tree.
    from flowpin.definitions.models import Definition, IfStep, NodeStep

    leaf = NodeStep.model_validate(assign("leaf", **{"vars.deep": True}))
    node: object = leaf
    for level in range(depth):
        node = IfStep.model_construct(
            id=f"if{level}", type="control.if", condition=True, then=[node], else_=[]
        )
    definition = Definition.model_construct(key="wf", steps=[node], output=None, triggers=[])
    driver = play(definition)
    assert driver.status is RunStatus.SUCCEEDED and driver.vars == {"deep": True}

    long = workflow([assign(f"s{i}", **{"vars.n": i}) for i in range(5000)])
    assert play(long).vars == {"n": 4999}


def test_rule_groups_and_malformed_rules() -> None:
    condition = {
        "all": [
            {"field": "payload.plan", "op": "equals", "value": "pro"},
            {
                "any": [
                    {"field": "payload.seats", "op": "greaterThan", "value": 10},
                    {"field": "payload.vip", "op": "exists"},
                ]
            },
        ]
    }
    definition = workflow(
        [
            if_step(
                condition, [assign("a", **{"vars.hit": True})], [assign("b", **{"vars.hit": False})]
            )
        ]
    )
    assert play(definition, {"plan": "pro", "seats": 20}).vars == {"hit": True}
    assert play(definition, {"plan": "pro", "seats": 2, "vip": False}).vars == {"hit": True}
    assert play(definition, {"plan": "pro", "seats": 2}).vars == {"hit": False}
    assert play(definition, {"plan": "free", "vip": True}).vars == {"hit": False}
    malformed = workflow([if_step({"field": "payload.plan", "op": "resembles", "value": 1}, [])])
    driver = play(malformed, {"plan": "pro"})
    assert driver.status is RunStatus.FAILED
    assert driver.outcome.error["category"] == "ValidationError"
    not_a_condition = play(workflow([if_step([1, 2], [])]))
    assert not_a_condition.outcome.error["category"] == "ValidationError"


def test_the_nearest_handler_wins() -> None:
    inner_try = workflow(
        [
            {
                "id": "outer",
                "type": "control.tryCatch",
                "captureErrorAs": "vars.outerCaught",
                "try": [
                    loop(
                        [
                            {
                                "id": "inner",
                                "type": "control.tryCatch",
                                "captureErrorAs": "vars.innerCaught",
                                "try": [{"id": "f", "type": "control.fail", "message": "x"}],
                                "catch": [],
                            }
                        ],
                        collect=expr("vars.innerCaught.message"),
                        saveAs="vars.out",
                        onItemError="continue",
                    )
                ],
                "catch": [],
            }
        ]
    )
    driver = play(inner_try, {"items": [1]})
    assert driver.vars == {"out": ["x"]}
    loop_first = workflow(
        [
            {
                "id": "outer",
                "type": "control.tryCatch",
                "captureErrorAs": "vars.outerCaught",
                "try": [
                    loop(
                        [{"id": "f", "type": "control.fail", "message": "x"}],
                        saveAs="vars.out",
                        onItemError="continue",
                    )
                ],
                "catch": [],
            }
        ]
    )
    driver = play(loop_first, {"items": [1, 2]})
    assert "outerCaught" not in driver.vars
    assert [item["error"]["message"] for item in driver.vars["out"]] == ["x", "x"]
    assert driver.statuses("outer") == ["succeeded"]


def test_human_task_timeout_retried_creates_a_new_task() -> None:
    from flowpin.runtime.decisions import CreateTask
    from flowpin.runtime.ids import task_id

    definition = workflow(
        [
            {
                "id": "approve",
                "type": "human.task",
                "config": {"title": "t", "formSchema": {}, "timeoutMs": 1000, "saveAs": "vars.d"},
                "retry": {"maxAttempts": 2, "backoffMs": 0},
            }
        ]
    )
    driver = Driver(definition)
    driver.advance()
    outcome = driver.timeout("approve")
    (task,) = outcome.commands
    assert isinstance(task, CreateTask)
    assert task.task_id == task_id(RUN.run_id, "approve", 2)
    assert driver.complete_task("approve", {"ok": 1}).status is RunStatus.SUCCEEDED
    assert [(e.status, e.attempt) for e in driver.history] == [("retrying", 1), ("succeeded", 2)]
