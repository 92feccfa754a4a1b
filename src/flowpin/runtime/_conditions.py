"""Rules (SPEC §3.2) in ``control.if`` conditions and switch cases, through
``flowpin.expressions.rules``. ``_fallback_rule`` stands in for that module until it lands and
is deleted then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flowpin.errors import ExpressionError
from flowpin.expressions.jsonata import Limits
from flowpin.expressions.paths import MISSING, lookup
from flowpin.expressions.values import resolve
from flowpin.runtime.failures import VALIDATION, StepFailure

try:  # pragma: no cover - depends on whether the rules module has landed
    from flowpin.expressions.rules import evaluate_condition as _evaluate_rule
except ImportError:  # pragma: no cover
    _evaluate_rule = None


def evaluate_rule(
    rule: dict[str, Any], envelope: dict[str, Any], now_ms: int, seed: int | None, limits: Limits
) -> bool:
    """A rule or an ``all``/``any`` group (SPEC §3.2); a malformed rule is a ValidationError of
    the step, an expression inside it an ExpressionError."""
    if _evaluate_rule is None:
        now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
        return _fallback_rule(rule, envelope, now, seed, limits)
    try:
        return bool(_evaluate_rule(rule, envelope, now=now_ms, seed=seed, limits=limits))
    except ExpressionError:
        raise
    except ValueError as exc:
        raise StepFailure(VALIDATION, str(exc)) from exc


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
