"""Rules (SPEC §3.2): every operator against every kind of field, groups, values, validation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flowpin.errors import ExpressionError
from flowpin.expressions.rules import (
    MAX_NESTING,
    OPERATORS,
    RuleError,
    evaluate_condition,
    is_rule,
    rule_fields,
    validate_rule,
)

ENVELOPE: dict[str, Any] = {
    "payload": {
        "present": "pro",
        "null": None,
        "empty": "",
        "zero": 0,
        "false": False,
        "date": "2026-05-01T10:00:00Z",
    },
    "vars": {"tags": ["vip", "beta", 3], "count": 5, "items": [{"sku": "A-1"}]},
    "meta": {},
}

# The field kinds of the table: a path into ENVELOPE for each.
FIELDS = {
    "present": "payload.present",  # "pro"
    "missing": "payload.absent",
    "null": "payload.null",
    "empty": "payload.empty",  # ""
    "zero": "payload.zero",  # 0
    "false": "payload.false",  # false
    "date": "payload.date",  # 2026-05-01T10:00:00Z
}
KINDS = tuple(FIELDS)

SAME_INSTANT = "2026-05-01T12:00:00+02:00"  # = payload.date


def row(op: str, value: Any, true_for: set[str]) -> list[Any]:
    """Cases for ``op`` with ``value``: true exactly for the field kinds in ``true_for``."""
    assert true_for <= set(KINDS)
    return [
        pytest.param(op, value, kind, kind in true_for, id=f"{op}-{value!r}-{kind}")
        for kind in KINDS
    ]


TABLE = [
    *row("equals", "pro", {"present"}),
    *row("equals", None, {"missing", "null"}),
    *row("equals", "", {"empty"}),
    *row("equals", 0, {"zero"}),
    *row("equals", False, {"false"}),
    *row("equals", SAME_INSTANT, {"date"}),
    *row("notEquals", "pro", {"empty", "zero", "false", "date"}),
    *row("notEquals", None, {"present", "empty", "zero", "false", "date"}),
    *row("notEquals", 0, {"present", "empty", "false", "date"}),
    *row("notEquals", SAME_INSTANT, {"present", "empty", "zero", "false"}),
    *row("contains", "ro", {"present"}),
    *row("contains", "", {"present", "empty", "date"}),
    *row("contains", "05-01", {"date"}),
    *row("notContains", "ro", {"empty", "date"}),
    *row("notContains", "x", {"present", "empty", "date"}),
    *row("greaterThan", -1, {"zero"}),
    *row("greaterThan", "2026-04-30", {"present", "date"}),  # "pro" > "2026…" by code point
    *row("greaterThan", SAME_INSTANT, {"present"}),
    *row("lessThan", 1, {"zero"}),
    *row("lessThan", "2026-05-02", {"empty", "date"}),  # "" < any non-empty string
    *row("lessThan", SAME_INSTANT, {"empty"}),
    *row("greaterThanOrEqual", 0, {"zero"}),
    *row("greaterThanOrEqual", SAME_INSTANT, {"present", "date"}),
    *row("lessThanOrEqual", 0, {"zero"}),
    *row("lessThanOrEqual", SAME_INSTANT, {"empty", "date"}),
    *row("exists", None, {"present", "empty", "zero", "false", "date"}),
    *row("notExists", None, {"missing", "null"}),
]


@pytest.mark.parametrize(("op", "value", "kind", "expected"), TABLE)
def test_operator_table(op: str, value: Any, kind: str, expected: bool) -> None:
    rule: dict[str, Any] = {"field": FIELDS[kind], "op": op}
    if op not in ("exists", "notExists"):
        rule["value"] = value
    assert validate_rule(rule) == []
    assert evaluate_condition(rule, ENVELOPE) is expected


def test_the_table_covers_every_operator() -> None:
    assert {param.values[0] for param in TABLE} == set(OPERATORS)


@pytest.mark.parametrize(
    "op", [op for op in OPERATORS if op not in ("equals", "notExists")], ids=str
)
@pytest.mark.parametrize("kind", ["missing", "null"])
def test_every_operator_but_equals_and_not_exists_is_false_when_missing(op: str, kind: str) -> None:
    for value in ("pro", "", 0, None, False, SAME_INSTANT, ["x"]):
        rule = {"field": FIELDS[kind], "op": op, "value": value}
        assert evaluate_condition(rule, ENVELOPE) is False, rule


# ------------------------------------------------------------------------------ arrays, numbers


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("contains", "vip", True),
        ("contains", "VIP", False),  # case-sensitive
        ("contains", 3, True),
        ("contains", 3.0, True),
        ("contains", "3", False),  # no coercion
        ("contains", "vi", False),  # membership, not substring of an item
        ("notContains", "gold", True),
        ("notContains", "beta", False),
        ("equals", ["vip", "beta", 3], True),
        ("equals", ["beta", "vip", 3], False),
    ],
)
def test_array_fields(op: str, value: Any, expected: bool) -> None:
    assert (
        evaluate_condition({"field": "vars.tags", "op": op, "value": value}, ENVELOPE) is expected
    )


def test_contains_on_a_number_is_false_both_ways() -> None:
    for op in ("contains", "notContains"):
        assert not evaluate_condition({"field": "vars.count", "op": op, "value": 5}, ENVELOPE)


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("equals", 5, True),
        ("equals", 5.0, True),
        ("equals", "5", False),
        ("equals", True, False),
        ("greaterThan", 4.5, True),
        ("greaterThan", "4", False),  # no coercion of numeric strings
        ("lessThanOrEqual", 5, True),
        ("lessThan", True, False),  # booleans do not order
    ],
)
def test_numbers(op: str, value: Any, expected: bool) -> None:
    assert (
        evaluate_condition({"field": "vars.count", "op": op, "value": value}, ENVELOPE) is expected
    )


def test_boolean_is_not_a_number() -> None:
    assert not evaluate_condition({"field": "payload.false", "op": "equals", "value": 0}, ENVELOPE)
    assert not evaluate_condition(
        {"field": "payload.zero", "op": "equals", "value": False}, ENVELOPE
    )


def test_array_index_in_field() -> None:
    rule = {"field": "vars.items.0.sku", "op": "equals", "value": "A-1"}
    assert evaluate_condition(rule, ENVELOPE)
    assert not evaluate_condition({"field": "vars.items.5.sku", "op": "exists"}, ENVELOPE)


# ------------------------------------------------------------------------------ dates


@pytest.mark.parametrize(
    ("field_value", "op", "value", "expected"),
    [
        # chronological, not lexicographic: 09:00-05:00 is 14:00Z
        ("2026-05-01T09:00:00-05:00", "greaterThan", "2026-05-01T12:00:00Z", True),
        ("2026-05-01T09:00:00-05:00", "lessThan", "2026-05-01T12:00:00Z", False),
        ("2026-05-01", "lessThan", "2026-05-01T00:00:01Z", True),  # a date is midnight UTC
        ("2026-05-01", "equals", "2026-05-01T00:00:00Z", True),
        ("2026-05-01T10:00:00", "equals", "2026-05-01T10:00:00Z", True),  # no offset = UTC
        ("2026-05-01T10:00:00.250Z", "greaterThan", "2026-05-01T10:00:00Z", True),
        ("2026-05-01 10:00:00+00:00", "equals", "2026-05-01T10:00:00Z", True),
        ("2026-12-31", "greaterThanOrEqual", "2026-12-31", True),
        ("2025-12-31", "greaterThanOrEqual", "2026-01-01", False),
        ("2026-02-30", "equals", "2026-03-02", False),  # not a real date: compared as strings
    ],
)
def test_dates_compare_as_dates(field_value: str, op: str, value: str, expected: bool) -> None:
    envelope = {"payload": {"when": field_value}}
    rule = {"field": "payload.when", "op": op, "value": value}
    assert evaluate_condition(rule, envelope) is expected


def test_date_against_now() -> None:
    rule = {"field": "payload.date", "op": "lessThan", "value": {"$expr": "$now()"}}
    assert evaluate_condition(rule, ENVELOPE, now="2026-05-02T00:00:00Z")
    assert not evaluate_condition(rule, ENVELOPE, now="2026-04-01T00:00:00Z")


# ------------------------------------------------------------------------------ values


def test_value_expression_reads_the_envelope() -> None:
    envelope = {"payload": {"plan": "pro"}, "vars": {"wanted": "pro"}}
    rule = {"field": "payload.plan", "op": "equals", "value": {"$expr": "vars.wanted"}}
    assert evaluate_condition(rule, envelope)


def test_value_expression_nested_in_a_literal() -> None:
    envelope = {"vars": {"pair": ["a", 2]}, "payload": {"n": 2}}
    rule = {"field": "vars.pair", "op": "equals", "value": ["a", {"$expr": "payload.n"}]}
    assert evaluate_condition(rule, envelope)


def test_undefined_value_expression_compares_as_null() -> None:
    rule = {"field": "payload.absent", "op": "equals", "value": {"$expr": "vars.nothing"}}
    assert evaluate_condition(rule, ENVELOPE)


def test_value_expression_errors_propagate() -> None:
    rule = {"field": "payload.present", "op": "equals", "value": {"$expr": '1 + "a"'}}
    with pytest.raises(ExpressionError):
        evaluate_condition(rule, ENVELOPE)


def test_value_is_not_evaluated_for_exists() -> None:
    rule = {"field": "payload.present", "op": "exists", "value": {"$expr": '1 + "a"'}}
    assert evaluate_condition(rule, ENVELOPE)


# ------------------------------------------------------------------------------ groups


def test_all_and_any_nest() -> None:
    vip = {"field": "vars.tags", "op": "contains", "value": "vip"}
    gold = {"field": "vars.tags", "op": "contains", "value": "gold"}
    pro = {"field": "payload.present", "op": "equals", "value": "pro"}
    assert evaluate_condition({"all": [vip, pro]}, ENVELOPE)
    assert not evaluate_condition({"all": [vip, gold]}, ENVELOPE)
    assert evaluate_condition({"any": [gold, vip]}, ENVELOPE)
    assert not evaluate_condition({"any": [gold, {"all": [gold, pro]}]}, ENVELOPE)
    assert evaluate_condition({"any": [gold, {"all": [vip, {"any": [gold, pro]}]}]}, ENVELOPE)


def test_groups_short_circuit() -> None:
    broken = {"field": "payload.present", "op": "equals", "value": {"$expr": '1 + "a"'}}
    yes = {"field": "payload.present", "op": "exists"}
    assert evaluate_condition({"any": [yes, broken]}, ENVELOPE)
    assert not evaluate_condition(
        {"all": [{"field": "payload.absent", "op": "exists"}, broken]}, ENVELOPE
    )


# ------------------------------------------------------------------------------ other conditions


def test_literal_and_expression_conditions() -> None:
    assert evaluate_condition(True, ENVELOPE) is True
    assert evaluate_condition(False, ENVELOPE) is False
    assert evaluate_condition({"$expr": "vars.count > 3"}, ENVELOPE) is True
    # a non-boolean result is cast like $boolean
    assert evaluate_condition({"$expr": "vars.tags"}, ENVELOPE) is True
    assert evaluate_condition({"$expr": "payload.empty"}, ENVELOPE) is False
    assert evaluate_condition({"$expr": "payload.absent"}, ENVELOPE) is False
    assert evaluate_condition({"$expr": "[0, false]"}, ENVELOPE) is False


@pytest.mark.parametrize("condition", [None, "true", 1, [], {"op": "equals"}])
def test_not_a_condition(condition: Any) -> None:
    with pytest.raises(RuleError, match="not a condition"):
        evaluate_condition(condition, ENVELOPE)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"field": "payload.x", "op": "eq", "value": 1}, "op: unknown operator 'eq'"),
        ({"field": "payload.x", "op": "equals"}, "needs a 'value'"),
        ({"field": "nowhere.x", "op": "exists"}, "field: field 'nowhere.x' must start"),
        ({"field": 3, "op": "exists"}, "needs a 'field'"),
        ({"all": []}, "non-empty list"),
        ({"any": [{"field": "payload.x", "op": "bad", "value": 1}]}, "any[0].op: unknown"),
    ],
)
def test_malformed_rules_raise_at_evaluation(rule: Any, message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        evaluate_condition(rule, ENVELOPE)


# ------------------------------------------------------------------------------ is_rule


def test_is_rule() -> None:
    assert is_rule({"field": "payload.x", "op": "exists"})
    assert is_rule({"all": []})
    assert is_rule({"any": [1]})
    assert not is_rule({"$expr": "true"})
    assert not is_rule(True)
    assert not is_rule({"op": "equals"})
    assert not is_rule([{"field": "payload.x"}])


# ------------------------------------------------------------------------------ validate_rule


def test_valid_rules_have_no_problems() -> None:
    rule = {
        "any": [
            {"field": "payload.contact.plan", "op": "equals", "value": "pro"},
            {
                "all": [
                    {"field": "vars.score", "op": "greaterThanOrEqual", "value": 10},
                    {"field": "event.payload.to", "op": "contains", "value": "support@"},
                    {"field": "meta.timedOut", "op": "notExists"},
                    {"field": "error", "op": "exists"},
                    {"field": "run.startedAt", "op": "lessThan", "value": {"$expr": "$now()"}},
                ]
            },
        ]
    }
    assert validate_rule(rule) == []


@pytest.mark.parametrize(
    ("rule", "problems"),
    [
        ("x", ["a rule must be an object: "]),
        ({"field": "payload.x"}, ["op: unknown operator None"]),
        ({"field": "payload.x", "op": "equals"}, ["operator 'equals' needs a 'value'"]),
        ({"op": "exists"}, ["field: a rule needs a 'field' path"]),
        ({"field": "", "op": "exists"}, ["field: path is empty"]),
        (
            {"field": "payload..x", "op": "exists"},
            ["field: path 'payload..x' has an empty segment"],
        ),
        ({"field": "vars.__proto__.x", "op": "exists"}, ["field: path 'vars.__proto__.x' uses"]),
        ({"field": "vars.constructor", "op": "exists"}, ["field: path 'vars.constructor' uses"]),
        ({"field": "secrets.x", "op": "exists"}, ["field: field 'secrets.x' must start with"]),
        (
            {"field": "payload.x", "op": "exists", "note": "hi"},
            ["unknown key(s) 'note'; a rule has 'field', 'op' and 'value'"],
        ),
        (
            {"field": "payload.x", "op": "greaterThan", "value": True},
            ["value: 'greaterThan' compares numbers, dates or strings, not a boolean"],
        ),
        (
            {"field": "payload.x", "op": "lessThan", "value": None},
            ["value: 'lessThan' compares numbers, dates or strings, not null"],
        ),
        (
            {"field": "payload.x", "op": "equals", "value": {"$expr": "payload.("}},
            ["value: invalid expression: "],
        ),
        (
            {"field": "payload.x", "op": "equals", "value": {"a": [{"$expr": "1 +"}]}},
            ["value.a[0]: invalid expression: "],
        ),
        (
            {"field": "payload.x", "op": "equals", "value": {"$expr": 5}},
            ["value: $expr must be a string, not a number"],
        ),
        (
            {"field": "payload.x", "op": "equals", "value": {"$secret": "API_KEY"}},
            ["value: a rule cannot read a secret"],
        ),
        ({"all": []}, ["all: must be a non-empty list of rules"]),
        ({"any": {"field": "payload.x"}}, ["any: must be a non-empty list of rules"]),
        ({"all": [1], "any": [1]}, ["'all' must be the only key of a group; found also 'any'"]),
        (
            {"all": [{"field": "payload.x", "op": "exists"}, {"any": [{"op": "nope"}]}]},
            [
                "all[1].any[0].field: a rule needs a 'field' path",
                "all[1].any[0].op: unknown operator 'nope'",
            ],
        ),
    ],
)
def test_validate_rule_reports_problems_with_paths(rule: Any, problems: list[str]) -> None:
    found = validate_rule(rule)
    assert len(found) == len(problems), found
    for message, expected in zip(found, problems, strict=True):
        assert message.startswith(expected), (message, expected)


def test_validate_rule_prefixes_a_given_path() -> None:
    found = validate_rule(
        {"all": [{"field": "payload.x", "op": "eq", "value": 1}]}, "steps[2].condition"
    )
    assert found[0].startswith("steps[2].condition.all[0].op: unknown operator 'eq'")


def test_stale_value_on_exists_is_ignored() -> None:
    assert validate_rule({"field": "payload.x", "op": "exists", "value": "left over"}) == []


def test_nesting_is_bounded() -> None:
    rule: dict[str, Any] = {"field": "payload.x", "op": "exists"}
    for _ in range(MAX_NESTING + 1):
        rule = {"all": [rule]}
    assert any("nested more than" in problem for problem in validate_rule(rule))
    with pytest.raises(RuleError, match="nested too deeply"):
        evaluate_condition(rule, ENVELOPE)


# ------------------------------------------------------------------------------ rule_fields


def test_rule_fields() -> None:
    rule = {
        "all": [
            {"field": "payload.contact.plan", "op": "equals", "value": "pro"},
            {"any": [{"field": "vars.score", "op": "greaterThan", "value": {"$expr": "vars.min"}}]},
        ]
    }
    assert rule_fields(rule) == {
        ("payload", "contact", "plan"),
        ("vars", "score"),
        ("vars", "min"),
    }
    assert rule_fields({"field": "vars.a", "op": "equals", "value": {"$expr": "$"}}) is None
    assert rule_fields({"field": "bad..path", "op": "exists"}) == set()
