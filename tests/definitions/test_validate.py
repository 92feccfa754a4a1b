"""Each problem code with a definition that triggers it and one that does not."""

from typing import Any

import pytest
from pydantic import BaseModel

from flowpin.definitions.loader import Problem
from flowpin.definitions.models import Definition
from flowpin.definitions.validate import ensure_valid, validate
from flowpin.errors import DefinitionError
from flowpin.registry import Registry, action


class Address(BaseModel):
    city: str
    zip: str | None = None


class TicketIn(BaseModel):
    subject: str
    requester: Address
    priority: int = 3


class TicketOut(BaseModel):
    ticket_id: str


@action("crm.create_ticket", version=1)
def create_ticket(input: TicketIn) -> TicketOut:
    return TicketOut(ticket_id="T-1")


class Email(BaseModel):
    subject: str


def registry() -> Registry:
    reg = Registry()
    reg.register(create_ticket)
    reg.register_schema("payload.Email.v1", Email)
    return reg


def wf(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"key": "test", "steps": list(steps), **extra}


def setv(step_id: str, name: str, value: Any = 1) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "transform.assign",
        "config": {"assign": {f"vars.{name}": value}},
    }


def read(step_id: str, expression: str) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "transform.assign",
        "config": {"assign": {"meta.seen": {"$expr": expression}}},
    }


def call(step_id: str = "call", **config: Any) -> dict[str, Any]:
    base = {
        "actionId": "crm.create_ticket",
        "version": 1,
        "inputMapping": {"subject": "hi", "requester": {"city": "Berlin"}},
    }
    return {"id": step_id, "type": "action.call", "config": {**base, **config}}


def check(doc: Any) -> list[Problem]:
    return validate(doc, registry())


def found(doc: Any, code: str) -> list[tuple[str, str | None]]:
    return [(p.path, p.step_id) for p in check(doc) if p.code == code]


def codes(doc: Any) -> list[str]:
    return [p.code for p in check(doc)]


OK = wf(
    {"id": "start", "type": "state.set", "config": {"state": "STARTED"}},
    call(saveAs="vars.ticket"),
    read("use", "vars.ticket.ticketId"),
)


def test_a_valid_definition_has_no_problems() -> None:
    assert check(OK) == []
    assert validate(Definition.model_validate(OK), registry()) == []


# --------------------------------------------------------------------------- shape


def test_invalid_definition_reports_shape_problems_only() -> None:
    doc = wf({"id": "s", "type": "state.set", "config": {"state": "X"}, "onErorr": "continue"})
    doc["steps"].append({"id": "s", "type": "control.return"})  # would be a duplicate
    problems = check(doc)
    assert [(p.code, p.path, p.step_id) for p in problems] == [
        ("INVALID_DEFINITION", "steps[0].onErorr", "s")
    ]
    assert "did you mean 'onError'" in problems[0].message


def test_payload_schema_must_be_a_json_schema() -> None:
    assert found(wf(payloadSchema={"type": "objekt"}), "INVALID_DEFINITION") == [
        ("payloadSchema.type", None)
    ]
    assert check(wf(payloadSchema={"type": "object"})) == []


# --------------------------------------------------------------------------- structure


def test_duplicate_step_ids_anywhere_in_the_tree() -> None:
    doc = wf(
        setv("a", "x"),
        {
            "id": "branchy",
            "type": "control.if",
            "condition": True,
            "then": [setv("a", "y")],
        },
    )
    assert found(doc, "DUPLICATE_STEP_ID") == [("steps[1].then[0].id", "a")]
    message = next(p.message for p in check(doc) if p.code == "DUPLICATE_STEP_ID")
    assert "steps[0]" in message


def test_case_and_branch_ids_share_the_step_id_namespace() -> None:
    doc = wf(
        setv("left", "x"),
        {
            "id": "fan",
            "type": "control.parallel",
            "branches": [{"id": "left", "steps": []}, {"id": "right", "steps": []}],
        },
        {
            "id": "route",
            "type": "control.switch",
            "cases": [{"id": "right", "when": True, "steps": []}],
        },
    )
    assert found(doc, "DUPLICATE_STEP_ID") == [
        ("steps[1].branches[0].id", "left"),
        ("steps[2].cases[0].id", "right"),
    ]
    doc["steps"][0]["id"] = "first"
    doc["steps"][2]["cases"][0]["id"] = "case1"
    assert found(doc, "DUPLICATE_STEP_ID") == []


def test_too_many_cases() -> None:
    def switch(n: int) -> dict[str, Any]:
        return wf(
            {
                "id": "sw",
                "type": "control.switch",
                "cases": [{"id": f"c{i}", "when": True, "steps": []} for i in range(n)],
            }
        )

    assert found(switch(21), "TOO_MANY_CASES") == [("steps[0].cases", "sw")]
    assert found(switch(20), "TOO_MANY_CASES") == []


# --------------------------------------------------------------------------- catalog


def test_unknown_node_type() -> None:
    doc = wf({"id": "x", "type": "crm.magic", "config": {}})
    assert found(doc, "UNKNOWN_NODE_TYPE") == [("steps[0].type", "x")]
    assert found(OK, "UNKNOWN_NODE_TYPE") == []


def test_invalid_config_with_paths_into_config() -> None:
    doc = wf(
        {"id": "s", "type": "state.set", "config": {}},
        {"id": "w", "type": "time.wait", "config": {}},
        {"id": "c", "type": "action.call", "config": {"actionId": "a", "version": 1, "sav": 1}},
    )
    problems = [(p.path, p.step_id, p.message) for p in check(doc) if p.code == "INVALID_CONFIG"]
    assert problems == [
        ("steps[0].config.state", "s", "missing required field 'state'"),
        ("steps[1].config", "w", "give exactly one of 'durationMs' and 'until'"),
        ("steps[2].config.sav", "c", "unknown key 'sav' (did you mean 'saveAs'?)"),
    ]
    assert (
        found(wf({"id": "w", "type": "time.wait", "config": {"durationMs": 5}}), "INVALID_CONFIG")
        == []
    )


def test_form_schema_must_be_a_json_schema() -> None:
    task = {
        "id": "ask",
        "type": "human.task",
        "timeoutMs": 1,
        "config": {"title": "Approve?", "formSchema": {"type": 5}, "timeoutMs": 1000},
    }
    assert found(wf(task), "INVALID_CONFIG") == [("steps[0].config.formSchema.type", "ask")]
    task["config"]["formSchema"] = {"type": "object"}
    assert found(wf(task), "INVALID_CONFIG") == []


def test_unknown_action() -> None:
    doc = wf(call(actionId="crm.delete_everything"), call("v2", version=2))
    problems = [(p.path, p.message) for p in check(doc) if p.code == "UNKNOWN_ACTION"]
    assert problems == [
        ("steps[0].config.actionId", "action crm.delete_everything@1 is not registered"),
        (
            "steps[1].config.actionId",
            "action crm.create_ticket@2 is not registered (registered versions: 1)",
        ),
    ]
    assert found(OK, "UNKNOWN_ACTION") == []


def test_missing_required_input() -> None:
    doc = wf(call(inputMapping={"requester": {"zip": "10115"}}))
    assert found(doc, "MISSING_REQUIRED_INPUT") == [
        ("steps[0].config.inputMapping.subject", "call"),
        ("steps[0].config.inputMapping.requester.city", "call"),
    ]
    fields = [p.details for p in check(doc) if p.code == "MISSING_REQUIRED_INPUT"]
    assert fields == [{"field": "subject"}, {"field": "requester.city"}]


def test_an_expression_provides_its_whole_subtree() -> None:
    provided = wf(
        call(inputMapping={"subject": {"$expr": "payload.s"}, "requester": {"$expr": "payload.r"}}),
        call("whole", inputMapping={"$expr": "payload"}),
        call(
            "secret", inputMapping={"subject": {"$secret": "SUBJECT"}, "requester": {"city": "x"}}
        ),
    )
    assert found(provided, "MISSING_REQUIRED_INPUT") == []


def test_unknown_schema_ref() -> None:
    doc = wf(
        {
            "id": "ask",
            "type": "human.task",
            "config": {
                "title": "t",
                "timeoutMs": 1000,
                "formSchema": {"type": "object", "properties": {"e": {"$ref": "schema:form.X.v1"}}},
            },
        },
        payloadSchema={"$ref": "schema:payload.Nope.v1"},
    )
    assert found(doc, "UNKNOWN_SCHEMA_REF") == [
        ("payloadSchema.$ref", None),
        ("steps[0].config.formSchema.properties.e.$ref", "ask"),
    ]
    assert found(wf(payloadSchema={"$ref": "schema:payload.Email.v1"}), "UNKNOWN_SCHEMA_REF") == []


def test_without_a_catalog_catalog_checks_are_skipped() -> None:
    doc = wf(call(actionId="who.knows"), {"id": "x", "type": "crm.magic", "config": {}})
    assert validate(doc) == []
    assert [p.code for p in validate(wf({"id": "s", "type": "state.set", "config": {}}))] == [
        "INVALID_CONFIG"
    ]


# --------------------------------------------------------------------------- expressions


def test_invalid_expression_has_the_position() -> None:
    doc = wf(read("r", "payload.a +"))
    [problem] = [p for p in check(doc) if p.code == "INVALID_EXPRESSION"]
    assert problem.path == "steps[0].config.assign['meta.seen']"
    assert problem.step_id == "r"
    assert problem.details is not None and problem.details["position"] == 11
    assert "position 11" in problem.message
    assert problem.details["expression"] == "payload.a +"
    assert found(wf(read("r", "payload.a + 1")), "INVALID_EXPRESSION") == []


def test_expressions_are_checked_everywhere() -> None:
    bad = {"$expr": "("}
    doc = wf(
        {"id": "if", "type": "control.if", "condition": bad, "then": []},
        {
            "id": "sw",
            "type": "control.switch",
            "cases": [{"id": "c", "when": bad, "steps": []}],
        },
        {"id": "each", "type": "control.forEach", "items": bad, "collect": bad, "body": []},
        {
            "id": "child",
            "type": "control.callWorkflow",
            "workflowKey": "k",
            "inputMapping": {"a": bad},
        },
        call(inputMapping={"subject": bad, "requester": [bad]}, idempotencyKey=bad),
        {
            "id": "wait",
            "type": "event.wait",
            "config": {"eventName": "e", "filter": bad, "timeoutMs": 1},
        },
        {"id": "fail", "type": "control.fail", "message": bad},
        triggers=[
            {
                "type": "event",
                "eventName": "e",
                "subject": bad,
                "payloadMapping": {"x": bad},
                "filter": bad,
            }
        ],
        output=bad,
    )
    paths = [p.path for p in check(doc) if p.code == "INVALID_EXPRESSION"]
    assert paths == [
        "triggers[0].subject",
        "triggers[0].payloadMapping.x",
        "triggers[0].filter",
        "steps[0].condition",
        "steps[1].cases[0].when",
        "steps[2].items",
        "steps[2].collect",
        "steps[3].inputMapping.a",
        "steps[4].config.inputMapping.subject",
        "steps[4].config.inputMapping.requester[0]",
        "steps[4].config.idempotencyKey",
        "steps[5].config.filter",
        "steps[6].message",
        "output",
    ]


def test_return_output_expression_is_checked() -> None:
    doc = wf({"id": "r", "type": "control.return", "output": {"$expr": "]"}})
    assert found(doc, "INVALID_EXPRESSION") == [("steps[0].output", "r")]


def test_non_string_expression() -> None:
    assert found(wf(read("r", 5)), "INVALID_EXPRESSION") == [  # type: ignore[arg-type]
        ("steps[0].config.assign['meta.seen']", "r")
    ]


@pytest.mark.parametrize("source", ["", "   "])
def test_empty_expression(source: str) -> None:
    assert found(wf(read("r", source)), "EMPTY_EXPRESSION") == [
        ("steps[0].config.assign['meta.seen']", "r")
    ]
    assert found(OK, "EMPTY_EXPRESSION") == []


def test_invalid_condition() -> None:
    def if_(condition: Any) -> dict[str, Any]:
        return wf({"id": "if", "type": "control.if", "condition": condition, "then": []})

    assert found(if_("yes"), "INVALID_CONDITION") == [("steps[0].condition", "if")]
    assert found(if_({"field": "payload.plan", "op": "resembles", "value": 1}), "INVALID_CONDITION")
    for good in (
        True,
        {"$expr": "payload.vip"},
        {"field": "payload.plan", "op": "equals", "value": "pro"},
        {"any": [{"field": "payload.plan", "op": "exists"}]},
    ):
        assert found(if_(good), "INVALID_CONDITION") == []


def test_invalid_assign_paths() -> None:
    doc = wf(
        {"id": "a", "type": "transform.assign", "config": {"assign": {"result": 1, "vars.ok": 2}}},
        call(saveAs="vars"),
        {
            "id": "t",
            "type": "control.tryCatch",
            "try": [],
            "catch": [],
            "captureErrorAs": "vars.__proto__.x",
        },
    )
    assert found(doc, "INVALID_ASSIGN_PATH") == [
        ("steps[0].config.assign.result", "a"),
        ("steps[1].config.saveAs", "call"),
        ("steps[2].captureErrorAs", "t"),
    ]
    assert found(OK, "INVALID_ASSIGN_PATH") == []


def test_invalid_secret_name() -> None:
    doc = wf(
        call(inputMapping={"subject": {"$secret": "smtp_password"}, "requester": {"city": "x"}})
    )
    assert found(doc, "INVALID_SECRET_NAME") == [("steps[0].config.inputMapping.subject", "call")]
    doc = wf(
        call(inputMapping={"subject": {"$secret": "SMTP_PASSWORD_2"}, "requester": {"city": "x"}})
    )
    assert found(doc, "INVALID_SECRET_NAME") == []


# --------------------------------------------------------------------------- triggers


def test_invalid_cron_and_time_zone() -> None:
    doc = wf(
        triggers=[
            {"type": "schedule", "cron": "61 * * * *"},
            {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Mars/Olympus"},
        ]
    )
    assert found(doc, "INVALID_CRON") == [
        ("triggers[0].cron", None),
        ("triggers[1].timezone", None),
    ]
    good = wf(triggers=[{"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}])
    assert found(good, "INVALID_CRON") == []


def test_catch_up_and_its_window_are_checked_with_a_message_saying_what_fits() -> None:
    def schedule(**fields: Any) -> dict[str, Any]:
        return {"type": "schedule", "cron": "0 9 * * *", **fields}

    doc = wf(
        triggers=[
            schedule(catchUp="sometimes"),
            schedule(catchUpWindowMs=0),
            schedule(catchUpWindowMs=-60_000),
            schedule(catchUpWindowMs=1.5),
            schedule(catchUpWindowMs="1h"),
        ]
    )
    assert [(p.code, p.path, p.message) for p in check(doc)] == [
        (
            "INVALID_DEFINITION",
            "triggers[0].catchUp",
            "unknown catchUp 'sometimes': use 'latest' (one run for the most recent missed "
            "slot), 'all' (one run per missed slot) or 'none' (missed slots are skipped)",
        ),
        (
            "INVALID_DEFINITION",
            "triggers[1].catchUpWindowMs",
            "catchUpWindowMs must be more than 0 and at most 316224000000 (ten years), not 0",
        ),
        (
            "INVALID_DEFINITION",
            "triggers[2].catchUpWindowMs",
            "catchUpWindowMs must be more than 0 and at most 316224000000 (ten years), not -60000",
        ),
        (
            "INVALID_DEFINITION",
            "triggers[3].catchUpWindowMs",
            "catchUpWindowMs must be a whole number of milliseconds",
        ),
        (
            "INVALID_DEFINITION",
            "triggers[4].catchUpWindowMs",
            "catchUpWindowMs must be a whole number of milliseconds",
        ),
    ]
    good = wf(
        triggers=[
            schedule(catchUp=mode, catchUpWindowMs=3_600_000) for mode in ("latest", "all", "none")
        ]
    )
    assert check(good) == []


# --------------------------------------------------------------------------- warnings


def test_wait_without_timeout() -> None:
    doc = wf(
        {"id": "w", "type": "event.wait", "config": {"eventName": "e"}},
        {"id": "h", "type": "human.task", "config": {"title": "t", "formSchema": {}}},
    )
    problems = [p for p in check(doc) if p.code == "WAIT_WITHOUT_TIMEOUT"]
    assert [(p.path, p.step_id, p.severity) for p in problems] == [
        ("steps[0].config", "w", "warning"),
        ("steps[1].config", "h", "warning"),
    ]
    doc["steps"][0]["config"]["timeoutMs"] = 1000
    doc["steps"][1]["config"]["timeoutMs"] = 1000
    assert found(doc, "WAIT_WITHOUT_TIMEOUT") == []


def test_unreachable_after_return_and_fail() -> None:
    doc = wf(
        {"id": "done", "type": "control.return"},
        setv("late", "x"),
        {
            "id": "if",
            "type": "control.if",
            "condition": True,
            "then": [{"id": "boom", "type": "control.fail", "message": "no"}, setv("later", "y")],
        },
    )
    problems = [p for p in check(doc) if p.code == "UNREACHABLE_STEP"]
    # the steps directly after the terminator; not the steps nested in them
    assert [(p.path, p.step_id, p.severity) for p in problems] == [
        ("steps[1]", "late", "warning"),
        ("steps[2]", "if", "warning"),
    ]
    reachable = wf(
        {
            "id": "if",
            "type": "control.if",
            "condition": True,
            "then": [{"id": "r", "type": "control.return"}],
        },
        setv("after", "x"),
    )
    assert found(reachable, "UNREACHABLE_STEP") == []


def test_unreachable_after_a_step_whose_every_path_ends() -> None:
    ends = {"id": "r1", "type": "control.return"}
    doc = wf(
        {
            "id": "if",
            "type": "control.if",
            "condition": True,
            "then": [ends],
            "else": [{"id": "f1", "type": "control.fail", "message": "x"}],
        },
        setv("after", "x"),
    )
    assert found(doc, "UNREACHABLE_STEP") == [("steps[1]", "after")]
    caught = wf(
        {
            "id": "t",
            "type": "control.tryCatch",
            "try": [{"id": "f", "type": "control.fail", "message": "x"}],
            "catch": [],
        },
        setv("after", "x"),
    )
    assert found(caught, "UNREACHABLE_STEP") == []


# --------------------------------------------------------------------------- data flow


def undefined(*steps: dict[str, Any], **extra: Any) -> list[tuple[str, str | None]]:
    return found(wf(*steps, **extra), "UNDEFINED_VARIABLE")


def test_undefined_variable_in_sequence() -> None:
    assert undefined(read("r", "vars.x"), setv("s", "x")) == [
        ("steps[0].config.assign['meta.seen']", "r")
    ]
    assert undefined(setv("s", "x"), read("r", "vars.x")) == []
    [problem] = [p for p in check(wf(read("r", "vars.x"))) if p.code == "UNDEFINED_VARIABLE"]
    assert problem.severity == "warning" and "vars.x" in problem.message


def test_nested_paths_need_their_top_level_variable() -> None:
    assert undefined(setv("s", "a"), read("r", "vars.a.b.c")) == []
    assert (
        undefined(
            {"id": "s", "type": "transform.assign", "config": {"assign": {"vars.a.b": 1}}},
            read("r", "vars.a"),
        )
        == []
    )
    assert undefined(setv("s", "a"), read("r", "vars.ab")) != []
    assert undefined(read("r", "$keys(vars)"), read("r2", "payload.x")) == []


def test_assign_evaluates_against_the_pre_step_envelope() -> None:
    same_step = {
        "id": "s",
        "type": "transform.assign",
        "config": {"assign": {"vars.a": 1, "vars.b": {"$expr": "vars.a"}}},
    }
    assert undefined(same_step) == [("steps[0].config.assign['vars.b']", "s")]


def test_if_else_branches_intersect() -> None:
    def if_(then: list[Any], otherwise: list[Any]) -> dict[str, Any]:
        return {
            "id": "if",
            "type": "control.if",
            "condition": True,
            "then": then,
            "else": otherwise,
        }

    assert undefined(if_([setv("a", "x")], []), read("r", "vars.x")) == [
        ("steps[1].config.assign['meta.seen']", "r")
    ]
    assert undefined(if_([setv("a", "x")], [setv("b", "x")]), read("r", "vars.x")) == []
    # a branch that ends the run does not count against the join
    ends = {"id": "stop", "type": "control.return"}
    assert undefined(if_([setv("a", "x")], [ends]), read("r", "vars.x")) == []


def test_switch_cases_and_default_intersect() -> None:
    def switch(default: list[Any] | None) -> dict[str, Any]:
        step = {
            "id": "sw",
            "type": "control.switch",
            "cases": [
                {"id": "c1", "when": True, "steps": [setv("a", "x")]},
                {"id": "c2", "when": True, "steps": [setv("b", "x")]},
            ],
        }
        if default is not None:
            step["default"] = default
        return step

    assert undefined(switch(None), read("r", "vars.x")) != []  # no default: may skip every case
    assert undefined(switch([setv("d", "x")]), read("r", "vars.x")) == []


def test_for_each_iteration_variables_and_isolation() -> None:
    loop = {
        "id": "each",
        "type": "control.forEach",
        "items": {"$expr": "payload.items"},
        "itemVar": "order",
        "body": [read("in", "vars.order.id & vars.orderIndex"), setv("inner", "tmp")],
        "collect": {"$expr": "vars.tmp"},
        "saveAs": "vars.results",
    }
    assert undefined(loop, read("after", "vars.results")) == []
    assert undefined(loop, read("after", "vars.tmp")) == [
        ("steps[1].config.assign['meta.seen']", "after")
    ]
    assert undefined(loop, read("after", "vars.order")) != []


def test_parallel_branches_are_isolated() -> None:
    fan = {
        "id": "fan",
        "type": "control.parallel",
        "branches": [
            {"id": "left", "steps": [setv("l", "x")]},
            {"id": "right", "steps": [read("r", "vars.x")]},
        ],
        "saveAs": "vars.fanned",
    }
    assert undefined(fan, read("after", "vars.fanned")) == [
        ("steps[0].branches[1].steps[0].config.assign['meta.seen']", "r")
    ]
    assert undefined(fan, read("after", "vars.x")) != []


def test_try_catch_flow() -> None:
    def guard(try_: list[Any], catch: list[Any]) -> dict[str, Any]:
        return {
            "id": "t",
            "type": "control.tryCatch",
            "try": try_,
            "catch": catch,
            "captureErrorAs": "vars.err",
        }

    assert undefined(guard([setv("a", "x")], []), read("r", "vars.x")) != []
    assert undefined(guard([setv("a", "x")], [setv("b", "x")]), read("r", "vars.x")) == []
    assert undefined(guard([setv("a", "x")], [read("c", "vars.err.message")])) == []
    assert undefined(guard([setv("a", "x")], [read("c", "vars.x")])) == [
        ("steps[0].catch[0].config.assign['meta.seen']", "c")
    ]


def test_save_as_of_waits_and_calls() -> None:
    wait = {
        "id": "w",
        "type": "event.wait",
        "config": {"eventName": "e", "timeoutMs": 5, "onTimeout": "continue", "saveAs": "vars.ev"},
    }
    task = {
        "id": "h",
        "type": "human.task",
        "config": {"title": "t", "formSchema": {}, "timeoutMs": 5, "saveAs": "vars.answer"},
    }
    child = {"id": "c", "type": "control.callWorkflow", "workflowKey": "k", "saveAs": "vars.child"}
    assert (
        undefined(
            wait,
            task,
            child,
            call(saveAs="vars.t"),
            read("r", "vars.ev & vars.answer & vars.child & vars.t"),
        )
        == []
    )


def test_on_error_continue_makes_save_as_uncertain() -> None:
    risky = call(saveAs="vars.ticket")
    risky["onError"] = "continue"
    assert undefined(risky, read("r", "vars.ticket")) != []


def test_rules_triggers_and_output_read_vars_too() -> None:
    rule_if = {
        "id": "if",
        "type": "control.if",
        "condition": {"all": [{"field": "vars.plan", "op": "equals", "value": "pro"}]},
        "then": [],
    }
    assert undefined(rule_if) == [("steps[0].condition", "if")]
    assert undefined(
        triggers=[{"type": "event", "eventName": "e", "subject": {"$expr": "vars.x"}}]
    ) == [("triggers[0].subject", None)]
    assert undefined(output={"$expr": "vars.result"}) == [("output", None)]
    assert undefined(setv("s", "result"), output={"$expr": "vars.result"}) == []


# --------------------------------------------------------------------------- ensure_valid


def test_ensure_valid_raises_with_problems_and_returns_the_definition() -> None:
    definition = ensure_valid(wf(read("r", "vars.x")), registry())  # a warning only
    assert isinstance(definition, Definition)
    with pytest.raises(DefinitionError) as info:
        ensure_valid(wf(call(actionId="nope"), read("r", "vars.x")), registry())
    assert info.value.code == "definition.invalid"
    assert [d["code"] for d in info.value.details] == ["UNKNOWN_ACTION", "UNDEFINED_VARIABLE"]
    assert "workflow 'test' is invalid: 1 error" in info.value.message
    with pytest.raises(DefinitionError):
        ensure_valid({"key": "BAD KEY"})


def test_custom_node_types_are_validated_against_their_config_model() -> None:
    from flowpin.registry import NodeTypeSpec

    class SlackConfig(BaseModel):
        channel: str
        text: Any = None
        saveAs: str | None = None

    reg = registry()
    reg.register(NodeTypeSpec("slack.post", SlackConfig, "Post to Slack", "action"))
    post = {
        "id": "post",
        "type": "slack.post",
        "config": {"channel": "#ops", "text": {"$expr": "payload.msg"}, "saveAs": "vars.posted"},
    }
    assert validate(wf(post, read("r", "vars.posted")), reg) == []
    post["config"] = {"text": {"$expr": "payload.("}, "saveAs": "posted"}
    problems = [(p.code, p.path) for p in validate(wf(post), reg)]
    assert problems == [
        ("INVALID_CONFIG", "steps[0].config.channel"),
        ("INVALID_EXPRESSION", "steps[0].config.text"),
        ("INVALID_ASSIGN_PATH", "steps[0].config.saveAs"),
    ]
