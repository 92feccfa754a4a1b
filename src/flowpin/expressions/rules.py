"""Rules: conditions for people who do not write JSONata (SPEC §3.2).

A rule compares one envelope field with a value; groups combine rules and nest::

    {"field": "payload.contact.plan", "op": "equals", "value": "pro"}
    {"all": [rule_or_group, ...]}      every item holds (an empty list is refused)
    {"any": [rule_or_group, ...]}      at least one item holds

``field`` is a dotted path from the envelope root (``payload``, ``vars``, ``meta``, ``error``,
``run``, or ``event`` in trigger and wait filters); numeric segments index arrays
(``vars.items.0.sku``). ``value`` is a literal or a ``{"$expr": …}`` (also nested inside a literal),
evaluated against the same envelope; it is omitted for ``exists`` / ``notExists``.

Semantics, exactly:

- **Missing.** A field that is absent *or null* is *missing*. ``exists`` is true when the field is
  not missing, so ``""``, ``0``, ``false``, ``[]`` and ``{}`` exist; ``notExists`` is its negation.
  ``equals`` compares a missing field as null: ``{"op": "equals", "value": null}`` is true for a
  missing field, any other value is false. Every other operator is false on a missing field —
  ``notEquals`` and ``notContains`` included (the Plunk semantics the SPEC adopts).
- **Equality** (``equals``, ``notEquals``, array membership in ``contains``) is JSON equality:
  case-sensitive strings, ``1 == 1.0``, booleans are not numbers, arrays and objects compare
  deeply. Two ISO-8601 dates compare as instants (below), so
  ``"2026-05-01T12:00:00+02:00"`` equals ``"2026-05-01T10:00:00Z"``.
- **contains / notContains**: a string field contains a string value as a substring
  (case-sensitive); an array field contains a value equal to one of its items. On any other
  pairing (a number field, a non-string value for a string field) both operators are false.
- **Ordering** (``greaterThan``, ``lessThan``, ``greaterThanOrEqual``, ``lessThanOrEqual``):
  two numbers compare numerically; two ISO-8601 dates chronologically; two other strings by code
  point. Any other pairing — a number against a numeric string, a boolean, null — is false (no
  coercion).
- **Dates** are strings in ISO-8601 extended calendar form: ``YYYY-MM-DD`` (midnight UTC), or a
  date and time ``YYYY-MM-DDTHH:MM[:SS[.fff…]]`` with ``Z`` or an offset (UTC when none), ``T``
  or a space between. ``$now()`` produces such strings, so ``{"$expr": "$now()"}`` is a valid
  ``value``.

``evaluate_condition`` also accepts a literal boolean and a ``{"$expr": …}`` condition, whose
result is cast with JSONata's ``$boolean``. A malformed rule raises ``RuleError``: definitions are
validated on publish (``validate_rule``), so at run time that is a definition bug.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from flowpin.expressions.jsonata import (
    DEFAULT_LIMITS,
    Limits,
    Now,
    boolean,
    check_syntax,
    read_paths,
)
from flowpin.expressions.paths import MISSING, PathError, lookup, parse_path
from flowpin.expressions.values import is_expr, iter_expressions, iter_secrets, resolve

__all__ = [
    "FIELD_ROOTS",
    "MAX_NESTING",
    "OPERATORS",
    "RuleError",
    "evaluate_condition",
    "is_rule",
    "rule_fields",
    "validate_rule",
]

OPERATORS: Final = (
    "equals",
    "notEquals",
    "contains",
    "notContains",
    "greaterThan",
    "lessThan",
    "greaterThanOrEqual",
    "lessThanOrEqual",
    "exists",
    "notExists",
)
_OPERATOR_SET: Final = frozenset(OPERATORS)
VALUELESS: Final = frozenset({"exists", "notExists"})
ORDERING: Final = frozenset({"greaterThan", "lessThan", "greaterThanOrEqual", "lessThanOrEqual"})
FIELD_ROOTS: Final = frozenset({"payload", "vars", "meta", "error", "run", "event"})
MAX_NESTING: Final = 32
"""Deepest nesting of ``all``/``any`` groups accepted."""

_GROUP_KEYS = ("all", "any")
_LEAF_KEYS = frozenset({"field", "op", "value"})


class RuleError(ValueError):
    """A malformed rule met at evaluation time; the message starts with the rule's path."""


def is_rule(obj: Any) -> bool:
    """Whether ``obj`` is shaped like a rule or a group (``field``, ``all`` or ``any`` key);
    ``validate_rule`` says whether it is a valid one."""
    return isinstance(obj, Mapping) and ("field" in obj or "all" in obj or "any" in obj)


def validate_rule(obj: Any, path: str = "") -> list[str]:
    """Every problem of the rule or group ``obj``, each message prefixed with where it is
    (``all[1].op: unknown operator 'eq' …``); ``path`` prefixes them all. Empty when valid."""
    problems: list[str] = []
    _validate(obj, path, 0, problems)
    return problems


def evaluate_condition(
    condition: Any,
    envelope: Any,
    *,
    now: Now = None,
    seed: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> bool:
    """Evaluate a condition: a literal boolean, a ``{"$expr": …}`` (cast like ``$boolean``), or a
    rule / group against ``envelope``. Raises ExpressionError from a value's expression and
    RuleError for a malformed rule."""
    if isinstance(condition, bool):
        return condition
    if is_expr(condition):
        return boolean(resolve(condition, envelope, now=now, seed=seed, limits=limits))
    if is_rule(condition):
        return _Evaluation(envelope, now, seed, limits).holds(condition, ())
    raise RuleError(
        f"not a condition: {condition!r}; expected true/false, "
        '{"$expr": "…"} or a rule ({"field", "op", "value"} or {"all"/"any": [rules]})'
    )


def rule_fields(rule: Any) -> set[tuple[str, ...]] | None:
    """The envelope paths a rule reads: its fields, and what its value expressions read (see
    ``jsonata.read_paths``); None when an expression may read anything. Malformed parts are
    skipped (``validate_rule`` reports them)."""
    found: set[tuple[str, ...]] = set()
    pending = [rule]
    while pending:
        item = pending.pop()
        if not isinstance(item, Mapping):
            continue
        for key in _GROUP_KEYS:
            if isinstance(item.get(key), list):
                pending.extend(item[key])
        field = item.get("field")
        if isinstance(field, str):
            with contextlib.suppress(PathError):
                found.add(parse_path(field, writable=False))
        for _, source in iter_expressions(item.get("value")):
            if not isinstance(source, str) or check_syntax(source) is not None:
                continue
            paths = read_paths(source)
            if paths is None:
                return None
            found |= paths
    return found


# --------------------------------------------------------------------------------- validation


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def _validate(obj: Any, path: str, depth: int, problems: list[str]) -> None:
    if not isinstance(obj, Mapping):
        problems.append(
            f"{_where(path)}a rule must be an object: "
            '{"field": …, "op": …, "value": …} or {"all"/"any": [rules]}, '
            f"not {_describe(obj)}"
        )
        return
    groups = [key for key in _GROUP_KEYS if key in obj]
    if groups:
        _validate_group(obj, groups, path, depth, problems)
    else:
        _validate_leaf(obj, path, problems)


def _validate_group(
    obj: Mapping[str, Any], groups: list[str], path: str, depth: int, problems: list[str]
) -> None:
    key = groups[0]
    if len(obj) != 1:
        others = sorted(str(other) for other in obj if other != key)
        problems.append(
            f"{_where(path)}{key!r} must be the only key of a group; found also "
            + ", ".join(repr(other) for other in others)
        )
        return
    items = obj[key]
    if not isinstance(items, list) or not items:
        problems.append(f"{_where(_at(path, key))}must be a non-empty list of rules")
        return
    if depth >= MAX_NESTING:
        problems.append(f"{_where(path)}groups are nested more than {MAX_NESTING} levels deep")
        return
    for index, item in enumerate(items):
        _validate(item, _at(_at(path, key), index), depth + 1, problems)


def _validate_leaf(rule: Mapping[str, Any], path: str, problems: list[str]) -> None:
    unknown = sorted(str(key) for key in rule if key not in _LEAF_KEYS)
    if unknown:
        problems.append(
            f"{_where(path)}unknown key(s) {', '.join(map(repr, unknown))}; "
            "a rule has 'field', 'op' and 'value'"
        )
    field = rule.get("field")
    if not isinstance(field, str):
        problems.append(
            f"{_where(_at(path, 'field'))}a rule needs a 'field' path such as "
            "'payload.contact.plan'"
        )
    else:
        problem = _field_problem(field)
        if problem:
            problems.append(f"{_where(_at(path, 'field'))}{problem}")
    op = rule.get("op")
    if op not in OPERATORS:
        problems.append(
            f"{_where(_at(path, 'op'))}unknown operator {op!r}; use one of {', '.join(OPERATORS)}"
        )
        return
    if op in VALUELESS:
        return  # a stale value left by the designer is ignored
    if "value" not in rule:
        problems.append(f"{_where(path)}operator {op!r} needs a 'value'")
        return
    _validate_value(rule["value"], op, _at(path, "value"), problems)


def _field_problem(field: str) -> str | None:
    try:
        segments = parse_path(field, writable=False)
    except PathError as exc:
        return str(exc)
    if segments[0] not in FIELD_ROOTS:
        return (
            f"field {field!r} must start with one of "
            + ", ".join(sorted(FIELD_ROOTS))
            + " (the envelope)"
        )
    return None


def _validate_value(value: Any, op: str, path: str, problems: list[str]) -> None:
    for relative, _ in iter_secrets(value):
        where = _join(path, relative)
        problems.append(f"{_where(where)}a rule cannot read a secret")
    for relative, source in iter_expressions(value):
        where = _join(path, relative)
        if not isinstance(source, str):
            problems.append(f"{_where(where)}$expr must be a string, not {_describe(source)}")
            continue
        error = check_syntax(source)
        if error is not None:
            problems.append(f"{_where(where)}invalid expression: {error.message}")
    orderable = isinstance(value, (int, float, str)) and not isinstance(value, bool)
    if op in ORDERING and not is_expr(value) and not orderable:
        problems.append(
            f"{_where(path)}{op!r} compares numbers, dates or strings, not {_describe(value)}"
        )


def _join(path: str, relative: str) -> str:
    if not relative:
        return path
    return f"{path}{relative}" if relative.startswith("[") else f"{path}.{relative}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


# --------------------------------------------------------------------------------- evaluation


Trail = tuple[str | int, ...]
"""Where a rule sits in its condition, as keys; formatted only for an error message."""


def _trail_path(trail: Trail) -> str:
    path = ""
    for key in trail:
        path = _at(path, key)
    return path


@lru_cache(maxsize=1024)
def _field_segments(field: str) -> tuple[str, ...] | str:
    """The parsed field, or what is wrong with it (cached: rules are evaluated often)."""
    problem = _field_problem(field)
    return problem if problem else parse_path(field, writable=False)


class _Evaluation:
    """One condition's evaluation: the envelope and what value expressions need."""

    __slots__ = ("envelope", "limits", "now", "seed")

    def __init__(self, envelope: Any, now: Now, seed: int | None, limits: Limits) -> None:
        self.envelope = envelope
        self.now = now
        self.seed = seed
        self.limits = limits

    def holds(self, rule: Any, trail: Trail) -> bool:
        if not isinstance(rule, Mapping):
            raise self._error(trail, f"a rule must be an object, not {_describe(rule)}")
        for key in _GROUP_KEYS:
            if key in rule:
                items = rule[key]
                if len(rule) != 1 or not isinstance(items, list) or not items:
                    raise self._error(
                        trail, f"{key!r} must be the only key, holding a non-empty list"
                    )
                if len(trail) >= 2 * MAX_NESTING:
                    raise self._error(trail, "groups are nested too deeply")
                results = (
                    self.holds(item, (*trail, key, index)) for index, item in enumerate(items)
                )
                return all(results) if key == "all" else any(results)
        return self._leaf(rule, trail)

    def _leaf(self, rule: Mapping[str, Any], trail: Trail) -> bool:
        field, op = rule.get("field"), rule.get("op")
        if not isinstance(field, str):
            raise self._error(trail, "a rule needs a 'field' path")
        segments = _field_segments(field)
        if isinstance(segments, str):
            raise self._error((*trail, "field"), segments)
        if op not in _OPERATOR_SET:
            raise self._error((*trail, "op"), f"unknown operator {op!r}")
        actual = lookup(self.envelope, segments)
        present = actual is not MISSING and actual is not None
        if op == "exists":
            return present
        if op == "notExists":
            return not present
        if "value" not in rule:
            raise self._error(trail, f"operator {op!r} needs a 'value'")
        expected = rule["value"]
        if isinstance(expected, (dict, list)):
            expected = resolve(
                expected, self.envelope, now=self.now, seed=self.seed, limits=self.limits
            )
        if op == "equals":
            return _equal(actual if present else None, expected)
        if not present:
            return False
        if op == "notEquals":
            return not _equal(actual, expected)
        if op in ("contains", "notContains"):
            found = _contains(actual, expected)
            if found is None:
                return False
            return found if op == "contains" else not found
        return _ordered(op, actual, expected)

    @staticmethod
    def _error(trail: Trail, message: str) -> RuleError:
        return RuleError(f"{_where(_trail_path(trail))}{message}")


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        if left == right:
            return True
        left_date, right_date = _instant(left), _instant(right)
        return left_date is not None and right_date is not None and left_date == right_date
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            _equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    if left is None or right is None:
        return left is None and right is None
    return False


def _contains(actual: Any, expected: Any) -> bool | None:
    """Whether ``actual`` contains ``expected``; None when containment means nothing for them."""
    if isinstance(actual, str):
        return expected in actual if isinstance(expected, str) else None
    if isinstance(actual, list):
        return any(_equal(item, expected) for item in actual)
    return None


def _ordered(op: str, actual: Any, expected: Any) -> bool:
    left: Any
    right: Any
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        left, right = actual, expected
    elif isinstance(actual, str) and isinstance(expected, str):
        left_date, right_date = _instant(actual), _instant(expected)
        if left_date is not None and right_date is not None:
            left, right = left_date, right_date
        else:
            left, right = actual, expected
    else:
        return False
    if op == "greaterThan":
        return bool(left > right)
    if op == "lessThan":
        return bool(left < right)
    if op == "greaterThanOrEqual":
        return bool(left >= right)
    return bool(left <= right)


_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)


@lru_cache(maxsize=4096)
def _instant(text: str) -> datetime | None:
    """``text`` as an aware datetime when it is an ISO-8601 date or date-time, else None."""
    if len(text) < 10 or text[4] != "-" or not _ISO_DATE.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
