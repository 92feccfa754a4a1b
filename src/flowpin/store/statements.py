"""Statements whose text does not depend on their arguments.

A list of ids is ONE bound parameter — ``column = ANY(array)`` on PostgreSQL,
``column IN (SELECT value FROM json_each(json))`` on SQLite — so a statement's text does not
change with the batch size: SQLAlchemy compiles it once (an expanding ``IN`` is re-rendered on
every call: measured ~15 % of a checkpoint) and the driver prepares it once. Statements on hot
paths are also built once per dialect: building a Core expression costs more CPU than a small
statement takes to run (measured on an event's path: ~1 ms of 2.7 ms).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


class DriverStatement:
    """A statement built once (per dialect) that, on an embedded database (SQLite), runs on the
    driver's own cursor: a SELECT, an UPDATE or DELETE (with or without RETURNING), an INSERT
    of one row or of many. For a small indexed statement, SQLAlchemy's execution (the
    statement's cache key, an execution context, each value and each row through its type, a
    result object) costs several times SQLite's own part (measured on an event's path: ~60 %
    of its transaction's CPU). The SQL is the statement's own, compiled once per dialect (and,
    for an INSERT, per set of columns); each parameter goes through its type as Core would
    (JSON text, aware UTC times), each returned value through its column's type, and a row's
    columns are its attributes, as on a Core row. Other databases run the statement through
    Core. An INSERT must have no Python-side column defaults for the columns it leaves out."""

    def __init__(self, build: Callable[[Dialect], Any]) -> None:
        self.statement = built_once(build)
        self._forms: dict[tuple[str, tuple[str, ...] | None], _DriverForm] = {}

    def all(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """Every row (``Result.all``)."""
        if not dialect_of(conn).embedded:
            return list(conn.execute(self.statement(conn), params).all())
        form = self._form(conn, None)
        cursor = form.run(conn, params)
        try:
            return form.rows(cursor.fetchall())
        finally:
            cursor.close()

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The first row, or None (``Result.first``)."""
        if not dialect_of(conn).embedded:
            return conn.execute(self.statement(conn), params).first()
        form = self._form(conn, None)
        cursor = form.run(conn, params)
        try:
            values = cursor.fetchone()
        finally:
            cursor.close()
        return None if values is None else form.rows([values])[0]

    def scalars(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """The first column of every row (``Result.scalars().all()``)."""
        if not dialect_of(conn).embedded:
            return list(conn.execute(self.statement(conn), params).scalars())
        return [row[0] for row in self.all(conn, params)]

    def rowcount(self, conn: Connection, params: dict[str, Any]) -> int:
        """Run it; how many rows it changed (an ``INSERT … ON CONFLICT DO NOTHING``: 1 if the
        row was written, else 0)."""
        if not dialect_of(conn).embedded:
            return int(conn.execute(self.statement(conn), params).rowcount)
        form = self._form(conn, tuple(params) if self._inserts(conn) else None)
        cursor = form.run(conn, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def many(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Run it once per item of ``rows``, each with the same keys (``executemany``)."""
        if not rows:
            return
        if not dialect_of(conn).embedded:
            conn.execute(self.statement(conn), list(rows))
            return
        form = self._form(conn, tuple(rows[0]) if self._inserts(conn) else None)
        driver = conn.connection.driver_connection
        driver.executemany(form.sql, [form.values(row) for row in rows])  # type: ignore[union-attr]

    def _inserts(self, conn: Connection) -> bool:
        return bool(self.statement(conn).is_insert)

    def _form(self, conn: Connection, columns: tuple[str, ...] | None) -> _DriverForm:
        key = (conn.dialect.name, columns)
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = _DriverForm.of(self.statement(conn), conn, columns)
        return form


class DriverRead(DriverStatement):
    """A SELECT built once that, on SQLite, runs on the driver's own cursor
    (``DriverStatement``): for a one-row indexed read, Core's execution cost more CPU than
    SQLite's part (measured on ``GET /api/runs/{id}``: ~60 % of the read)."""

    def __init__(self, statement: sa.Select[Any]) -> None:
        super().__init__(lambda _dialect: statement)


class DriverInsert(DriverStatement):
    """An INSERT built once per dialect (its ``ON CONFLICT`` is the dialect's) that, on SQLite,
    runs on the driver's own cursor one row at a time, with its own rowcount
    (``DriverStatement.rowcount``): Core's execution of a 23-column insert cost several times
    SQLite's part (measured on a start)."""

    def __init__(self, build: Callable[[Dialect], Any]) -> None:
        super().__init__(lambda dialect: build(dialect).execution_options(preserve_rowcount=True))


class _DriverForm:
    """A statement as the driver runs it: its SQL, how each positional parameter is found and
    typed, and how each returned row is made."""

    def __init__(
        self,
        sql: str,
        params: list[tuple[str, Any]],
        fixed: dict[str, Any],
        row: Any,
        types: list[Any],
    ) -> None:
        self.sql = sql
        self.params = params
        """Per position: the parameter's name and its type's bind processor (or None)."""
        self.fixed = fixed
        """The values the statement carries itself (a literal's, a ``LIMIT``'s), by name."""
        self.row = row
        self.types = types
        self.plain = not any(types)

    @classmethod
    def of(cls, statement: Any, conn: Connection, columns: tuple[str, ...] | None) -> _DriverForm:
        from collections import namedtuple

        dialect = conn.dialect
        if columns is None:
            compiled = statement.compile(dialect=dialect)
        else:
            compiled = statement.compile(dialect=dialect, column_keys=list(columns))
            table = statement.table.c
            assert all(c.default is None for c in table if c.key not in columns), (
                "an insert through the driver gets no Python-side defaults"
            )
        assert compiled.positiontup is not None, "a positional driver (SQLite's qmark)"
        binds = compiled.binds
        sql, positions, fixed = str(compiled), list(compiled.positiontup), dict(compiled.params)
        if compiled.post_compile_params:  # an IN of literal values (``status.in_(…)``)
            assert all(not bind.required for bind in compiled.post_compile_params), (
                "an IN of the caller's values: bind the list as one value (``listed``)"
            )
            placeholders = {name: None for name, bind in binds.items() if bind.required}
            expanded = compiled.construct_expanded_state(placeholders)
            sql, positions = expanded.statement, list(expanded.positiontup or ())
            fixed.update(expanded.parameters)
            for bind in compiled.post_compile_params:
                for position in positions:
                    if position.startswith(f"{compiled.bind_names[bind]}_"):
                        binds = {**binds, position: bind}
        params = [
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in positions
        ]
        returned = list(statement.exported_columns) if statement.exported_columns else []
        return cls(
            sql,
            params,
            fixed,
            namedtuple("DriverRow", [column.key for column in returned]) if returned else None,  # type: ignore[misc]
            [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in returned],
        )

    def values(self, params: dict[str, Any]) -> list[Any]:
        fixed = self.fixed
        out = []
        for name, process in self.params:
            value = params[name] if name in params else fixed[name]
            out.append(value if process is None else process(value))
        return out

    def run(self, conn: Connection, params: dict[str, Any]) -> Any:
        driver = conn.connection.driver_connection
        return driver.execute(self.sql, self.values(params))  # type: ignore[union-attr]

    def rows(self, rows: list[Any]) -> list[Any]:
        row, types = self.row, self.types
        if self.plain:
            return [row._make(values) for values in rows]
        return [
            row(*[v if p is None else p(v) for p, v in zip(types, values, strict=True)])
            for values in rows
        ]
