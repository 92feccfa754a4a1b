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


class DriverRead:
    """A SELECT built once that, on an embedded database (SQLite), runs on the driver's own
    cursor: for a one-row indexed read, SQLAlchemy's execution (the statement's cache key, an
    execution context, a result object) costs more CPU than SQLite's part (measured on
    ``GET /api/runs/{id}``: ~60 % of the read). The SQL text is the statement's own, compiled
    once per dialect; each column's type is applied to its value as Core would (JSON, aware UTC
    times), and a row's columns are its attributes, as on a Core row. Other databases run the
    statement through Core."""

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _DriverForm] = {}

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The first row, or None (``Result.first``)."""
        if not dialect_of(conn).embedded:
            return conn.execute(self.statement, params).first()
        form, cursor = self._run(conn, params)
        try:
            values = cursor.fetchone()
        finally:
            cursor.close()
        if values is None:
            return None
        return form.row(
            *[value if p is None else p(value) for p, value in zip(form.types, values, strict=True)]
        )

    def all(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """Every row (``Result.all``)."""
        if not dialect_of(conn).embedded:
            return list(conn.execute(self.statement, params).all())
        form, cursor = self._run(conn, params)
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        row, types = form.row, form.types
        if not any(types):
            return [row._make(values) for values in rows]
        return [
            row(*[v if p is None else p(v) for p, v in zip(types, values, strict=True)])
            for values in rows
        ]

    def _run(self, conn: Connection, params: dict[str, Any]) -> tuple[_DriverForm, Any]:
        form = self._compiled.get(conn.dialect.name)
        if form is None:
            form = self._compiled[conn.dialect.name] = _DriverForm.of(self.statement, conn)
        fixed = form.fixed
        cursor = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            form.sql, [params[name] if name in params else fixed[name] for name in form.params]
        )
        return form, cursor


class _DriverForm:
    def __init__(
        self, sql: str, params: list[str], row: Any, types: list[Any], fixed: dict[str, Any]
    ) -> None:
        self.sql = sql
        self.params = params
        self.row = row
        self.types = types
        self.fixed = fixed
        """The values the statement carries itself (a ``LIMIT``'s), by parameter name."""

    @classmethod
    def of(cls, statement: sa.Select[Any], conn: Connection) -> _DriverForm:
        from collections import namedtuple

        dialect = conn.dialect
        compiled = statement.compile(dialect=dialect)
        assert compiled.positiontup is not None, "a positional driver (SQLite's qmark)"
        columns = list(statement.selected_columns)
        return cls(
            str(compiled),
            list(compiled.positiontup),
            namedtuple("DriverRow", [column.key for column in columns]),  # type: ignore[misc]
            [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            ],
            dict(compiled.params),
        )


class DriverInsert:
    """An INSERT built once that, on an embedded database (SQLite), runs on the driver's own
    cursor, one row at a time with its own rowcount (``INSERT … ON CONFLICT DO NOTHING`` says
    per row whether it was written). SQLAlchemy's execution of a 23-column insert (its cache
    key, an execution context, each value through its type) cost several times SQLite's part
    (measured on a start). The SQL is the statement's own, compiled once per dialect and set of
    columns; each value goes through its column's type as Core would (JSON text, UTC times).
    The statement must have no Python-side column defaults (the values name every column that
    gets one). Other databases run the statement through Core."""

    def __init__(self, build: Callable[[Dialect], Any]) -> None:
        """``build(dialect)``: the insert (per dialect: its ``ON CONFLICT`` is the dialect's)."""
        self.statement = built_once(
            lambda dialect: build(dialect).execution_options(preserve_rowcount=True)
        )
        self._forms: dict[tuple[str, tuple[str, ...]], tuple[str, list[tuple[str, Any]]]] = {}

    def rowcount(self, conn: Connection, values: dict[str, Any]) -> int:
        """Insert one row of ``values`` (by column name); 1 if it was written, else 0."""
        if not dialect_of(conn).embedded:
            return int(conn.execute(self.statement(conn), values).rowcount)
        key = (conn.dialect.name, tuple(values))
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = self._form(conn, list(values))
        sql, params = form
        cursor = conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            sql, [values[name] if p is None else p(values[name]) for name, p in params]
        )
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def _form(self, conn: Connection, names: list[str]) -> tuple[str, list[tuple[str, Any]]]:
        dialect = conn.dialect
        statement = self.statement(conn)
        compiled = statement.compile(dialect=dialect, column_keys=names)
        assert compiled.positiontup is not None, "a positional driver (SQLite's qmark)"
        columns = statement.table.c
        assert all(column.default is None for column in columns if column.key not in names)
        return str(compiled), [
            (name, columns[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup
        ]
