"""What flowpin accepts from outside — the HTTP API, the Engine's Python methods, the CLI: JSON
values that every database stores the same way, and texts that fit their columns.

Checked at the boundary so that a bad input is a 400 naming the field and the place in it, the
same on SQLite and PostgreSQL, instead of a database error half-way through a transaction (or
a value silently changed). Refused:

- a lone surrogate (``"\\ud800"``): it has no UTF-8 form, so no database can store it;
- NUL (``"\\u0000"``) in a text or an object key: PostgreSQL's text and jsonb cannot hold it
  (SQLite could; refusing it on both keeps a workflow portable);
- an integer outside the signed 64-bit range: the JSON columns' serializer cannot write it;
- NaN, Infinity and numbers too large for a double (``1e400``): not JSON; they used to be
  stored as ``null`` without a word;
- nesting deeper than ``MAX_DEPTH``: the stored documents (a run's state holds its payload a
  few levels down) must stay within the serializer's depth limit;
- a value that is not JSON at all (a ``datetime``, a ``set``) from Python callers.

Identifiers that are only looked up (run ids, workflow keys) go through ``check_text`` too:
PostgreSQL refuses a NUL even in a comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flowpin.errors import FlowpinError

MAX_DEPTH = 100
"""Deepest nesting of arrays and objects accepted in a JSON value."""
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

SUBJECT_MAX = 500
IDEMPOTENCY_KEY_MAX = 500
WORKFLOW_NAME_MAX = 200
EVENT_NAME_MAX = 200
EVENT_KEY_MAX = 500
EVENT_ID_MAX = 200
KEY_NAME_MAX = 200
TENANT_MAX = 64


class InputError(FlowpinError):
    """An input flowpin cannot store faithfully (``input.invalid_value``) or that is longer than
    its field allows (``input.too_long``); ``details`` names the ``field`` and, inside a JSON
    value, the JSON ``pointer`` to the offending part."""

    code = "input.invalid_value"


def check_value(value: Any, field: str) -> Any:
    """``value`` if it is JSON every database stores as given; else InputError."""
    try:
        _walk(value, 0)
    except _Bad as bad:
        pointer = "".join(f"/{_escape(str(part))}" for part in reversed(bad.path))
        _refuse(field, pointer, bad.problem)
    return value


def check_fields(fields: Mapping[Any, Any], where: str = "body") -> None:
    """``check_value`` for each field of an object (a request body), named by its key."""
    for field, value in fields.items():
        problem = text_problem(field) if isinstance(field, str) else "is not a string"
        if problem is not None:
            _refuse(where, "", f"has a field name that {problem}")
        check_value(value, field)


def check_text(value: Any, field: str, max_length: int | None = None) -> Any:
    """``value`` (a str or None) if it has no lone surrogate, no NUL and at most ``max_length``
    characters; else InputError."""
    if value is None:
        return None
    if not isinstance(value, str):
        _refuse(field, "", f"must be a string, not {_type_name(value)}")
    problem = text_problem(value)
    if problem is not None:
        _refuse(field, "", problem)
    if max_length is not None and len(value) > max_length:
        raise InputError(
            f"{field} is {len(value)} characters long; at most {max_length} are allowed",
            code="input.too_long",
            details={"field": field, "maxLength": max_length, "length": len(value)},
        )
    return value


def check_texts(**fields: Any) -> None:
    """``check_text`` for each named identifier (no length limit)."""
    for field, value in fields.items():
        check_text(value, field)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"contains a lone surrogate (\\u{ord(text[exc.start]):04x})"
    return None


class _Bad(Exception):
    """Raised from deep inside a value; the path to it is collected on the way out."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        self.path: list[str | int] = []


def _walk(value: Any, depth: int) -> None:
    """Every node once; exact types first (the common case: what a JSON parser makes)."""
    kind = type(value)
    if kind is str:
        if "\x00" in value or not value.isascii():
            problem = text_problem(value)
            if problem is not None:
                raise _Bad(problem)
    elif kind is dict:
        if depth >= MAX_DEPTH:
            raise _Bad(f"nests arrays and objects deeper than {MAX_DEPTH} levels")
        for key, item in value.items():
            if type(key) is not str:
                raise _Bad(f"has a {_type_name(key)} key (keys must be strings)")
            if "\x00" in key or not key.isascii():
                problem = text_problem(key)
                if problem is not None:
                    raise _Bad(f"has a key that {problem}")
            try:
                _walk(item, depth + 1)
            except _Bad as bad:
                bad.path.append(key)
                raise
    elif kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            raise _Bad(f"nests arrays and objects deeper than {MAX_DEPTH} levels")
        for index, item in enumerate(value):
            try:
                _walk(item, depth + 1)
            except _Bad as bad:
                bad.path.append(index)
                raise
    elif kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise _Bad("is an integer outside the 64-bit range")
    elif kind is float:
        if not math.isfinite(value):
            raise _Bad("is not a finite number (NaN, Infinity or too large)")
    elif value is not None and kind is not bool:
        _walk(_plain(value), depth)


def _plain(value: Any) -> Any:
    """A subclass of a JSON type (an IntEnum, a str Enum, an OrderedDict) as the plain type."""
    for plain in (bool, str, int, float):
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    raise _Bad(f"is a {_type_name(value)}, not a JSON value")


def _refuse(field: str, pointer: str, problem: str) -> None:
    where = f"{field} at {pointer}" if pointer else field
    raise InputError(
        f"{where} {problem}",
        code="input.invalid_value",
        details={"field": field, "pointer": pointer, "problem": problem},
    )


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _type_name(value: Any) -> str:
    return type(value).__name__
