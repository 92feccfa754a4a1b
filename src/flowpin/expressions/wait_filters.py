"""A wait's filter as it is stored with the wait: a JSONata source, or rules (SPEC §3.2).

A wait outlives the step that parked it, so its filter is stored as text with the wait
(``waits.filter``) and decided when an event arrives, against the envelope frozen at park time
plus ``event``. Rules are stored as ``rules:`` and their canonical JSON: no JSONata source
begins that way (``rules:`` does not parse), so a stored filter says which it is.
"""

from __future__ import annotations

import json
from typing import Any

from flowpin.expressions.jsonata import compile_expression
from flowpin.expressions.rules import evaluate_condition, is_rule, validate_rule

RULES = "rules:"


class FilterError(ValueError):
    """A filter that is neither an expression nor valid rules."""


def stored_filter(value: Any) -> str | None:
    """What a wait stores of the step's ``filter`` (None: every event passes). Raises
    FilterError, or ExpressionError for an expression that does not compile."""
    if value is None or value is True:
        return None
    if value is False:
        return "false"
    if is_rule(value):
        problems = validate_rule(value)
        if problems:
            raise FilterError(f"event.wait filter: {problems[0]}")
        return RULES + json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, dict) and set(value) == {"$expr"}:
        source = value["$expr"]
    elif isinstance(value, str):
        source = value
    else:
        raise FilterError("event.wait filter must be a JSONata expression or rules")
    compile_expression(source)
    return source


def accepts(stored: str, data: dict[str, Any], now: Any) -> bool:
    """Whether the stored filter accepts ``data`` (the frozen envelope and ``event``).
    Raises ExpressionError (or RuleError) when it cannot be decided."""
    if stored.startswith(RULES):
        return evaluate_condition(json.loads(stored[len(RULES) :]), data, now=now)
    return bool(compile_expression(stored).evaluate(data, now=now))
