"""Values in definitions: a literal, ``{"$expr": "…"}`` or ``{"$secret": "NAME"}``, nested at
any depth inside literal objects and arrays (SPEC §2).

An object is an expression only if ``$expr`` is its single key (likewise ``$secret``).
Resolution evaluates every expression against the envelope and leaves secret references in
place: secrets are resolved by the worker at action-call time and never stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flowpin.expressions.jsonata import DEFAULT_LIMITS, Limits, compile_expression

SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")


def is_expr(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "$expr" in value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "$secret" in value


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if re.match(r"^[A-Za-z_$][A-Za-z0-9_$]*$", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def iter_expressions(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, source)`` for every ``$expr`` in ``value``; ``path`` points at the value
    holding the expression (``inputMapping.ticketId``)."""
    if is_expr(value):
        yield path, value["$expr"]
    elif is_secret(value):
        return
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_expressions(item, _child_path(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_expressions(item, _child_path(path, index))


def iter_secrets(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, name)`` for every ``$secret`` reference in ``value``."""
    if is_secret(value):
        yield path, value["$secret"]
    elif is_expr(value):
        return
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_secrets(item, _child_path(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_secrets(item, _child_path(path, index))


def contains_expression(value: Any) -> bool:
    return next(iter_expressions(value), None) is not None


def resolve(
    value: Any,
    envelope: Any,
    *,
    now: datetime | int | float | None = None,
    seed: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """Evaluate every ``$expr`` in ``value`` against ``envelope``; secret references stay.

    An expression whose result is undefined resolves to ``None``. Raises ExpressionError.
    """
    if is_expr(value):
        return compile_expression(value["$expr"]).evaluate(
            envelope, now=now, seed=seed, limits=limits
        )
    if is_secret(value):
        return value
    if isinstance(value, dict):
        return {
            key: resolve(item, envelope, now=now, seed=seed, limits=limits)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [resolve(item, envelope, now=now, seed=seed, limits=limits) for item in value]
    return value


def substitute_secrets(value: Any, lookup: Any) -> Any:
    """Replace every ``{"$secret": NAME}`` by ``lookup(NAME)``; used only at action-call time."""
    if is_secret(value):
        return lookup(value["$secret"])
    if isinstance(value, dict):
        return {key: substitute_secrets(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_secrets(item, lookup) for item in value]
    return value
