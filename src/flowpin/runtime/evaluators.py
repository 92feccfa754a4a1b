"""Values and conditions of a definition compiled into evaluators, once per definition.

An evaluator is called as ``evaluator(envelope, now_ms, seed, limits)`` and behaves like
``flowpin.expressions.values.resolve``: every ``$expr`` is evaluated, ``$secret`` references
stay, an undefined result is ``None``. The work of walking the value and looking up the compiled
expressions is done here, not per step; results never share containers with the definition.

``now_ms`` is the logical time in epoch milliseconds (what ``$now()``/``$millis()`` return;
cheaper for the JSONata engine than a datetime).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowpin.expressions.jsonata import Limits, boolean, compile_expression
from flowpin.expressions.rules import RuleError, evaluate_condition, is_rule
from flowpin.expressions.values import is_expr, is_secret
from flowpin.runtime.failures import VALIDATION, StepFailure

Evaluator = Callable[[dict[str, Any], int, "int | None", Limits], Any]
Condition = Callable[[dict[str, Any], int, "int | None", Limits], bool]


def clone(value: Any) -> Any:
    """A copy of a JSON value (containers copied, scalars shared)."""
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    return value


def _constant(value: Any) -> Evaluator:
    if isinstance(value, (dict, list)):
        return lambda envelope, now, seed, limits: clone(value)
    return lambda envelope, now, seed, limits: value


def _contains_expression(value: Any) -> bool:
    if is_expr(value):
        return True
    if is_secret(value):
        return False
    if isinstance(value, dict):
        return any(_contains_expression(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_expression(item) for item in value)
    return False


def _expression(source: Any) -> Evaluator:
    try:
        compiled = compile_expression(source)
    except Exception:
        # Report the syntax error when the step runs, as an ExpressionError of that step.
        def failing(envelope: dict[str, Any], now: int, seed: int | None, limits: Limits) -> Any:
            return compile_expression(source).evaluate(envelope, now=now, seed=seed, limits=limits)

        return failing
    evaluate = compiled.evaluate

    def run(envelope: dict[str, Any], now: int, seed: int | None, limits: Limits) -> Any:
        return evaluate(envelope, now=now, seed=seed, limits=limits)

    return run


def compile_value(value: Any) -> Evaluator:
    if is_expr(value):
        return _expression(value["$expr"])
    if not _contains_expression(value):
        return _constant(value)
    if isinstance(value, dict):
        fields = [(key, compile_value(item)) for key, item in value.items()]
        return lambda envelope, now, seed, limits: {
            key: item(envelope, now, seed, limits) for key, item in fields
        }
    items = [compile_value(item) for item in value]
    return lambda envelope, now, seed, limits: [item(envelope, now, seed, limits) for item in items]


def compile_condition(condition: Any) -> Condition:
    """A ``control.if`` condition or a switch case's ``when``: a literal bool, a ``$expr``
    (cast like JSONata's ``$boolean``) or a rule (SPEC §3.2)."""
    if isinstance(condition, bool) or condition is None:
        constant = bool(condition)
        return lambda envelope, now, seed, limits: constant
    if is_expr(condition):
        evaluate = _expression(condition["$expr"])
        return lambda envelope, now, seed, limits: boolean(evaluate(envelope, now, seed, limits))
    if is_rule(condition):

        def rule(envelope: dict[str, Any], now: int, seed: int | None, limits: Limits) -> bool:
            try:
                return evaluate_condition(condition, envelope, now=now, seed=seed, limits=limits)
            except RuleError as exc:
                raise StepFailure(VALIDATION, str(exc)) from exc

        return rule

    def invalid(envelope: dict[str, Any], now: int, seed: int | None, limits: Limits) -> bool:
        raise StepFailure(VALIDATION, f"not a condition: {condition!r}")

    return invalid
