"""Statements whose text does not depend on their arguments.

A list of ids is ONE bound parameter — ``column = ANY(array)`` on PostgreSQL,
``column IN (SELECT value FROM json_each(json))`` on SQLite — so a statement's text does not
change with the batch size: SQLAlchemy compiles it once (an expanding ``IN`` is re-rendered on
every call: measured ~15 % of a checkpoint) and the driver prepares it once. Statements on hot
paths are also built once per dialect: building a Core expression costs more CPU than a small
statement takes to run (measured on an event's path: ~1 ms of 2.7 ms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store.dialects import Dialect, dialect_of


def among(conn: Connection, column: Any, ids: list[Any]) -> Any:
    """``column IN ids``, the list bound as one parameter (for a statement built per call)."""
    dialect = dialect_of(conn)
    value = dialect.list_value(ids)
    return dialect.in_list(column, sa.bindparam(None, value, type_=dialect.list_type(column)))


def listed(dialect: Dialect, column: Any, name: str) -> Any:
    """``column IN :name`` for a statement built once; ``list_param`` gives the value."""
    return dialect.in_list(column, sa.bindparam(name, type_=dialect.list_type(column)))


def list_param(conn: Connection, values: list[Any]) -> Any:
    """The value of a ``listed`` parameter."""
    return dialect_of(conn).list_value(values)


def built_once(build: Callable[[Dialect], Any]) -> Callable[[Connection], Any]:
    """``build(dialect)``, cached per dialect."""
    cache: dict[str, Any] = {}

    def get(conn: Connection) -> Any:
        name = conn.dialect.name
        statement = cache.get(name)
        if statement is None:
            statement = cache[name] = build(dialect_of(conn))
        return statement

    return get
