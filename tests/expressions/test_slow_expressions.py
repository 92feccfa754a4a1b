"""A slow expression is evaluated with Python's GIL released once it has held it for
``Limits.hold_gil_ms`` (so the API and the worker's loop, other threads, keep running): its
result and its errors are those of a fast evaluation. (How much the other threads get done is
measured by ``benchmarks/fairness.py``, not asserted here.)"""

from __future__ import annotations

from dataclasses import replace

import pytest

from flowpin.expressions.jsonata import (
    DEFAULT_LIMITS,
    ExpressionLimitError,
    compile_expression,
)

BURN = "($loop := function() { $loop() }; $loop())"
"""Never ends: stopped by the time limit."""

ENVELOPE = {
    "payload": {"items": [{"price": 2.5, "qty": 4}, {"price": 1, "qty": 3}], "name": "Ada"},
    "vars": {"n": 3, "tags": ["a", "b"], "nested": {"deep": [1, {"x": None}]}},
    "meta": {},
}

SAMPLES = [
    "$sum(payload.items.(price * qty))",
    "payload.name & ' has ' & $string($count(vars.tags)) & ' tags'",
    "vars.nested",
    "vars.missing",
    "$map([1..5], function($v) { $v * vars.n })",
    "{'when': $now(), 'r': $random()}",
    "$exists(vars.nested.deep[1].x)",
    "payload.items[price > 2]",
]


@pytest.mark.parametrize("source", SAMPLES)
def test_the_released_evaluation_answers_as_the_lazy_one(source: str) -> None:
    compiled = compile_expression(source)
    released = replace(DEFAULT_LIMITS, hold_gil_ms=1e-6)  # every evaluation takes phase two

    lazy = compiled.evaluate(ENVELOPE, now=1767225600000, seed=7)
    assert compiled.evaluate(ENVELOPE, now=1767225600000, seed=7, limits=released) == lazy


def test_a_slow_expression_still_fails_with_the_time_limit() -> None:
    with pytest.raises(ExpressionLimitError) as caught:
        compile_expression(BURN).evaluate(ENVELOPE, now=0, seed=1)
    assert caught.value.limit == "time"
