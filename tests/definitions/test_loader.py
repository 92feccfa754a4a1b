import json
from pathlib import Path

import pytest

from flowpin.definitions.loader import (
    Problem,
    load_definition,
    load_document,
    parse_definition,
    parse_text,
    read_file,
)
from flowpin.definitions.models import Definition, IfStep, NodeStep
from flowpin.errors import DefinitionError

GOOD = {
    "key": "hello",
    "steps": [
        {
            "id": "vip",
            "type": "control.if",
            "condition": {"$expr": "payload.vip"},
            "then": [{"id": "s", "type": "state.set", "config": {"state": "VIP"}}],
            "else": [],
        }
    ],
}

YAML = """
key: hello
steps:
  - id: vip
    type: control.if
    condition: {$expr: payload.vip}
    then:
      - id: s
        type: state.set
        config: {state: VIP}
    else: []
"""


def problems_of(exc: pytest.ExceptionInfo[DefinitionError]) -> list[tuple[str, str]]:
    return [(p["path"], p["message"]) for p in exc.value.details]


def test_load_from_dict_json_text_yaml_text_and_files(tmp_path: Path) -> None:
    from_dict = load_definition(GOOD)
    assert isinstance(from_dict, Definition)
    assert isinstance(from_dict.steps[0], IfStep)
    assert isinstance(from_dict.steps[0].then[0], NodeStep)
    assert load_definition(json.dumps(GOOD)) == from_dict
    assert load_definition(YAML) == from_dict
    (tmp_path / "a.json").write_text(json.dumps(GOOD))
    (tmp_path / "a.yaml").write_text(YAML)
    (tmp_path / "a.txt").write_text(YAML)
    for name in ("a.json", "a.yaml", "a.txt"):
        assert load_definition(tmp_path / name) == from_dict
    assert read_file(tmp_path / "a.yaml") == GOOD == load_document(tmp_path / "a.json")


def test_shape_errors_have_document_paths_without_union_tags() -> None:
    doc = json.loads(json.dumps(GOOD))
    doc["steps"][0]["then"].append(
        {
            "id": "call",
            "type": "action.call",
            "config": {},
            "retry": {"maxAttempts": 0, "backofMs": 10},
        }
    )
    doc["steps"][0]["else"] = [{"id": "x", "type": "control.ifelse"}]
    doc["steps"][0]["condtion"] = True
    with pytest.raises(DefinitionError) as info:
        load_definition(doc)
    assert info.value.code == "definition.invalid"
    assert sorted(problems_of(info)) == [
        ("steps[0].condtion", "unknown key 'condtion' (did you mean 'condition'?)"),
        (
            "steps[0].else[0].type",
            "unknown control step type 'control.ifelse'; control types are control.callWorkflow, "
            "control.fail, control.forEach, control.if, control.parallel, control.return, "
            "control.switch, control.tryCatch",
        ),
        (
            "steps[0].then[1].retry.backofMs",
            "unknown key 'backofMs' (did you mean 'backoffMs'?)",
        ),
        ("steps[0].then[1].retry.maxAttempts", "Input should be greater than or equal to 1"),
    ]
    assert {p["stepId"] for p in info.value.details} == {"vip", "x", "call"}
    assert all(p["code"] == "INVALID_DEFINITION" for p in info.value.details)


def test_missing_fields_and_union_alternatives() -> None:
    doc = {
        "key": "x",
        "steps": [
            {"id": "a"},
            {"id": "b", "type": "control.callWorkflow", "workflowKey": "k", "version": "v2"},
            {"id": "c", "type": "control.if", "then": []},
        ],
        "triggers": [{"type": "schedule"}, {"type": "webhook"}],
    }
    definition, problems = parse_definition(doc)
    assert definition is None
    assert [(p.path, p.step_id, p.message) for p in problems] == [
        ("triggers[0].cron", None, "missing required field 'cron'"),
        (
            "triggers[1].type",
            None,
            "Input tag 'webhook' found using 'type' does not match any of the expected tags: "
            "'event', 'schedule', 'manual'",
        ),
        ("steps[0].type", "a", "missing required field 'type'"),
        (
            "steps[1].version",
            "b",
            "Input should be a valid integer, unable to parse string as an integer, "
            "or input should be 'latest'",
        ),
        ("steps[2].condition", "c", "missing required field 'condition'"),
    ]


def test_switch_case_and_branch_paths() -> None:
    doc = {
        "key": "x",
        "steps": [
            {
                "id": "sw",
                "type": "control.switch",
                "cases": [
                    {"id": "c1", "when": True, "steps": [{"id": "s", "type": "x.y", "bad": 1}]}
                ],
            },
            {"id": "par", "type": "control.parallel", "branches": [{"id": "b1", "stepz": []}]},
        ],
    }
    _, problems = parse_definition(doc)
    assert [(p.path, p.step_id) for p in problems] == [
        ("steps[0].cases[0].steps[0].bad", "s"),
        ("steps[1].branches[0].stepz", "b1"),
    ]


def test_top_level_must_be_an_object() -> None:
    _, problems = parse_definition([1, 2])
    assert problems == [
        Problem(code="INVALID_DEFINITION", message="a definition must be an object, not an array")
    ]


def test_syntax_errors_have_line_and_column() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_text('{"key": "x",\n  "steps": [}', format="json")
    problem = info.value.details[0]
    assert problem["code"] == "INVALID_DEFINITION"
    assert problem["details"] == {"line": 2, "column": 13}
    assert "invalid JSON" in problem["message"]
    with pytest.raises(DefinitionError) as info:
        parse_text("key: [unclosed\nsteps: 1\n")
    assert "invalid YAML" in info.value.details[0]["message"]
    assert info.value.details[0]["details"]["line"] == 2


def test_duplicate_keys_are_reported_with_paths() -> None:
    text = '{"key": "x", "steps": [{"id": "a", "id": "b", "type": "state.set"}]}'
    with pytest.raises(DefinitionError) as info:
        parse_text(text)
    assert problems_of(info) == [("steps[0].id", "duplicate key 'id'")]
    with pytest.raises(DefinitionError) as info:
        parse_text("key: x\nname: a\nname: b\n")
    assert problems_of(info) == [("name", "duplicate key 'name'")]


def test_non_json_values_are_refused() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_text('{"a": NaN}')
    assert "NaN is not valid JSON" in info.value.details[0]["message"]
    with pytest.raises(DefinitionError) as info:
        parse_text("key: x\nsteps:\n  - until: 2024-01-01\n    on: 1\n")
    assert problems_of(info) == [
        ("steps[0].until", "a YAML date is not JSON; quote it to make it a string"),
        ("steps[0]", "object key True is not a string (quote it in YAML)"),
    ]
    with pytest.raises(DefinitionError):
        load_document({"a": float("inf")})


def test_load_document_returns_plain_copies() -> None:
    source = {"key": "x", "steps": ()}
    document = load_document(source)
    assert document == {"key": "x", "steps": []} and document is not source


def test_problem_to_dict_round_trip() -> None:
    problem = Problem(
        code="UNKNOWN_ACTION",
        message="m",
        path="steps[0].config.actionId",
        step_id="call",
        severity="warning",
        details={"position": 3},
    )
    data = problem.to_dict()
    assert data == {
        "severity": "warning",
        "code": "UNKNOWN_ACTION",
        "path": "steps[0].config.actionId",
        "stepId": "call",
        "message": "m",
        "details": {"position": 3},
    }
    assert Problem.from_dict(data) == problem
    assert "details" not in Problem(code="X", message="m").to_dict()


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="cannot read"):
        read_file(tmp_path / "missing.json")
