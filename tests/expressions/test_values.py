"""Values: literals, ``$expr`` and ``$secret`` trees (SPEC §2)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from flowpin.errors import ExpressionError
from flowpin.expressions.jsonata import ExpressionLimitError, Limits
from flowpin.expressions.values import (
    contains_expression,
    is_expr,
    is_secret,
    iter_expressions,
    iter_secrets,
    resolve,
    substitute_secrets,
)

ENVELOPE: dict[str, Any] = {
    "payload": {"email": {"from": "ann@example.com", "subject": "Help"}},
    "vars": {"ticket": {"id": "T-7"}, "items": [{"price": 2, "qty": 3}, {"price": 5, "qty": 1}]},
    "meta": {},
    "run": {"id": "r-1"},
}

MAPPING: dict[str, Any] = {
    "ticketId": {"$expr": "vars.ticket.id"},
    "title": "Re: ",
    "requester": {"email": {"$expr": "payload.email.from"}, "vip": False},
    "lines": [{"$expr": "$sum(vars.items.(price * qty))"}, 3, {"nested": [{"$expr": "run.id"}]}],
    "auth": {"$secret": "HELPDESK_TOKEN"},
    "headers": {"X-Key": {"$secret": "API_KEY"}},
    "my key": {"$expr": "'spaced'"},
}


def test_is_expr_and_is_secret_need_a_single_key() -> None:
    assert is_expr({"$expr": "a"})
    assert not is_expr({"$expr": "a", "other": 1})
    assert not is_expr({"expr": "a"})
    assert not is_expr("$expr")
    assert is_secret({"$secret": "A"})
    assert not is_secret({"$secret": "A", "$expr": "b"})
    assert not is_secret(["$secret"])


def test_resolve_evaluates_at_any_depth() -> None:
    resolved = resolve(MAPPING, ENVELOPE)
    assert resolved == {
        "ticketId": "T-7",
        "title": "Re: ",
        "requester": {"email": "ann@example.com", "vip": False},
        "lines": [11, 3, {"nested": ["r-1"]}],
        "auth": {"$secret": "HELPDESK_TOKEN"},
        "headers": {"X-Key": {"$secret": "API_KEY"}},
        "my key": "spaced",
    }


def test_resolve_leaves_the_definition_untouched() -> None:
    before = copy.deepcopy(MAPPING)
    resolve(MAPPING, ENVELOPE)
    assert before == MAPPING


def test_an_object_with_more_keys_is_a_literal() -> None:
    value = {"$expr": "vars.ticket.id", "note": {"$expr": "run.id"}}
    assert resolve(value, ENVELOPE) == {"$expr": "vars.ticket.id", "note": "r-1"}


def test_literals_pass_through() -> None:
    for literal in (None, True, 0, 1.5, "text", "$expr", [], {}, [1, [2, {"a": None}]]):
        assert resolve(literal, ENVELOPE) == literal


def test_undefined_resolves_to_none() -> None:
    assert resolve({"a": {"$expr": "vars.nope"}}, ENVELOPE) == {"a": None}


def test_resolve_passes_now_seed_and_limits() -> None:
    value = {"at": {"$expr": "$now()"}, "r": {"$expr": "$random()"}}
    first = resolve(value, ENVELOPE, now="2026-01-02T03:04:05Z", seed=9)
    assert first["at"] == "2026-01-02T03:04:05.000Z"
    assert resolve(value, ENVELOPE, now="2026-01-02T03:04:05Z", seed=9) == first
    small = Limits(max_result_bytes=10)
    with pytest.raises(ExpressionLimitError):
        resolve({"$expr": "payload.email"}, ENVELOPE, limits=small)


def test_resolve_raises_expression_errors() -> None:
    with pytest.raises(ExpressionError) as caught:
        resolve({"a": [{"$expr": "vars.ticket.id +"}]}, ENVELOPE)
    assert caught.value.expression == "vars.ticket.id +"
    with pytest.raises(ExpressionError, match="must be a string"):
        resolve({"$expr": 42}, ENVELOPE)


def test_iter_expressions_names_where_each_one_is() -> None:
    assert list(iter_expressions(MAPPING, "inputMapping")) == [
        ("inputMapping.ticketId", "vars.ticket.id"),
        ("inputMapping.requester.email", "payload.email.from"),
        ("inputMapping.lines[0]", "$sum(vars.items.(price * qty))"),
        ("inputMapping.lines[2].nested[0]", "run.id"),
        ("inputMapping['my key']", "'spaced'"),
    ]
    assert list(iter_expressions({"$expr": "a"})) == [("", "a")]


def test_iter_secrets() -> None:
    assert list(iter_secrets(MAPPING)) == [
        ("auth", "HELPDESK_TOKEN"),
        ("headers['X-Key']", "API_KEY"),
    ]
    # a secret name inside an expression object is not a secret reference
    assert list(iter_secrets({"$expr": "1", "x": 1})) == []


def test_contains_expression() -> None:
    assert contains_expression(MAPPING)
    assert contains_expression([1, [{"a": {"$expr": "1"}}]])
    assert not contains_expression({"a": [1, {"$secret": "X"}], "b": "$expr"})


def test_substitute_secrets_at_call_time() -> None:
    resolved = resolve(MAPPING, ENVELOPE)
    calls: list[str] = []

    def lookup(name: str) -> str:
        calls.append(name)
        return f"<{name}>"

    final = substitute_secrets(resolved, lookup)
    assert final["auth"] == "<HELPDESK_TOKEN>"
    assert final["headers"] == {"X-Key": "<API_KEY>"}
    assert final["ticketId"] == "T-7"
    assert calls == ["HELPDESK_TOKEN", "API_KEY"]
    assert resolved["auth"] == {"$secret": "HELPDESK_TOKEN"}  # the resolved copy keeps the ref
