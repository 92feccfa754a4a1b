"""JSON as the store writes and reads it: the serializer of every JSON column, and of the
values the bulk statements and list parameters bind themselves."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> str:
    """JSON text; the serializer of every JSON column (see ``store.database``)."""
    return orjson.dumps(value).decode()


def loads(value: Any) -> Any:
    """The deserializer of every JSON column. SQLite gives a JSON column NUMERIC affinity, so a
    document that is a bare number comes back as a number, not as its text."""
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def json_param(value: Any) -> str | None:
    return None if value is None else dumps(value)
