"""Conditions of ``control.if`` and switch cases: a literal bool, a ``$expr`` or a rule (§3.2).

Literal and ``$expr`` conditions are evaluated here (so the interpreter's limits apply, and the
result is cast like JSONata's ``$boolean``); rules go to ``flowpin.expressions.rules``.
``_fallback_rule`` stands in for that module until it lands and is deleted then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowpin.expressions.jsonata import Limits, boolean, compile_expression
from flowpin.expressions.paths import MISSING, lookup
from flowpin.expressions.values import is_expr, resolve
from flowpin.runtime.failures import VALIDATION, StepFailure

try:  # pragma: no cover - depends on whether the rules module has landed
    from flowpin.expressions.rules import evaluate_condition as _evaluate_rule
except ImportError:  # pragma: no cover
    _evaluate_rule = None


def evaluate(
    condition: Any,
    envelope: dict[str, Any],
    *,
    now: datetime,
    seed: int | None,
    limits: Limits,
) -> bool:
    if isinstance(condition, bool):
        return condition
    if condition is None:
        return False
    if is_expr(condition):
        source = condition["$expr"]
        result = compile_expression(source).evaluate(envelope, now=now, seed=seed, limits=limits)
        return boolean(result)
    if isinstance(condition, dict) and (
        "field" in condition or "all" in condition or "any" in condition
    ):
        if _evaluate_rule is not None:
            return bool(_evaluate_rule(condition, envelope, now=now, seed=seed))
        return _fallback_rule(condition, envelope, now, seed, limits)
    raise StepFailure(VALIDATION, f"not a condition: {condition!r}")


# --------------------------------------------------------------------------- temporary fallback


def _fallback_rule(
    rule: dict[str, Any], envelope: dict[str, Any], now: datetime, seed: int | None, limits: Limits
) -> bool:
    if "all" in rule:
        return all(_fallback_rule(r, envelope, now, seed, limits) for r in rule["all"])
    if "any" in rule:
        return any(_fallback_rule(r, envelope, now, seed, limits) for r in rule["any"])
    field = rule.get("field")
    op = rule.get("op")
    if not isinstance(field, str) or not isinstance(op, str):
        raise StepFailure(VALIDATION, f"malformed rule: {rule!r}")
    actual = lookup(envelope, field)
    expected = resolve(rule.get("value"), envelope, now=now, seed=seed, limits=limits)
    missing = actual is MISSING or actual is None
    if op == "exists":
        return not missing
    if op == "notExists":
        return missing
    if op == "equals":
        return (None if missing else actual) == expected
    if missing:
        return False
    if op == "notEquals":
        return actual != expected
    if op in ("contains", "notContains"):
        found = (
            expected in actual
            if isinstance(actual, (list, dict))
            or (isinstance(actual, str) and isinstance(expected, str))
            else False
        )
        return found if op == "contains" else not found
    left, right = _comparable(actual), _comparable(expected)
    try:
        if op == "greaterThan":
            return bool(left > right)
        if op == "lessThan":
            return bool(left < right)
        if op == "greaterThanOrEqual":
            return bool(left >= right)
        if op == "lessThanOrEqual":
            return bool(left <= right)
    except TypeError:
        return False
    raise StepFailure(VALIDATION, f"unknown rule operator {op!r}")


def _comparable(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-":
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return value
    return value
