"""The hot statements of a checkpoint, written through the driver's ``executemany``.

A group commit writes hundreds of rows; going through SQLAlchemy's per-parameter type
processing cost more than SQLite itself (measured: ~60 % of the checkpoint time). These few
statements therefore take rows of already-serialised values (JSON text via orjson, times in the
column's storage form) and hand them to the DBAPI cursor directly. Everything else in flowpin
uses SQLAlchemy Core. The SQL is the same on both databases but for the placeholder style.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection


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


@dataclass(frozen=True, slots=True)
class Statement:
    """One hot statement in two forms: SQLite runs ``sqlite`` through ``executemany`` (one
    prepared statement, C loop); PostgreSQL gets one multi-row statement per chunk, because a
    round of parse/bind/execute per row cost ~50 µs there even when pipelined (measured)."""

    sqlite: str
    pg_head: str
    pg_row: str
    """One row's placeholders, with casts (VALUES lists carry no column types of their own)."""
    pg_tail: str = ""

    def pg(self, rows: int) -> str:
        return self.pg_head + ", ".join([self.pg_row] * rows) + self.pg_tail


PG_CHUNK = 1000


class Bulk:
    """Value encoders and the statement runner for one connection's dialect."""

    def __init__(self, conn: Connection) -> None:
        self.sqlite = conn.dialect.name == "sqlite"
        self._times: dict[datetime, str] = {}

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if not self.sqlite:
            return value
        # The storage format of SQLAlchemy's SQLite DateTime (naive UTC, fixed width), so
        # values written here compare and read back like those written through Core. A batch
        # has few distinct times (many history rows share their logical time): format each once.
        text = self._times.get(value)
        if text is None:
            text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            self._times[value] = text
        return text

    def write(
        self, conn: Connection, statement: Statement, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        if not rows:
            return
        if self.sqlite:
            conn.exec_driver_sql(statement.sqlite, list(rows))
            return
        for start in range(0, len(rows), PG_CHUNK):
            chunk = rows[start : start + PG_CHUNK]
            params = tuple(value for row in chunk for value in row)
            conn.exec_driver_sql(statement.pg(len(chunk)), params)


def _row(casts: list[str]) -> str:
    return "(" + ", ".join(f"%s::{cast}" if cast else "%s" for cast in casts) + ")"


UPDATE_HELD_RUNS = Statement(
    sqlite="UPDATE runs SET state = ?, status = ?, current_step = ?, updated_at = ? WHERE id = ?",
    pg_head="UPDATE runs AS r SET state = v.state, status = v.status, "
    "current_step = v.current_step, updated_at = v.updated_at FROM (VALUES ",
    pg_row=_row(["jsonb", "varchar", "varchar", "timestamptz", "varchar"]),
    pg_tail=") AS v(state, status, current_step, updated_at, id) WHERE r.id = v.id",
)
RELEASE_RUNS = Statement(
    sqlite="UPDATE runs SET state = ?, status = ?, current_step = ?, updated_at = ?, "
    "wake_at = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
    pg_head="UPDATE runs AS r SET state = v.state, status = v.status, "
    "current_step = v.current_step, updated_at = v.updated_at, wake_at = NULL, "
    "lease_owner = NULL, lease_expires_at = NULL FROM (VALUES ",
    pg_row=_row(["jsonb", "varchar", "varchar", "timestamptz", "varchar"]),
    pg_tail=") AS v(state, status, current_step, updated_at, id) WHERE r.id = v.id",
)
UPDATE_TERMINAL_RUNS = Statement(
    sqlite="UPDATE runs SET state = ?, status = ?, current_step = NULL, output = ?, error = ?, "
    "updated_at = ?, finished_at = ?, wake_at = NULL, lease_owner = NULL, "
    "lease_expires_at = NULL, active_subject_key = NULL WHERE id = ?",
    pg_head="UPDATE runs AS r SET state = v.state, status = v.status, current_step = NULL, "
    "output = v.output, error = v.error, updated_at = v.updated_at, "
    "finished_at = v.finished_at, wake_at = NULL, lease_owner = NULL, "
    "lease_expires_at = NULL, active_subject_key = NULL FROM (VALUES ",
    pg_row=_row(["jsonb", "varchar", "jsonb", "jsonb", "timestamptz", "timestamptz", "varchar"]),
    pg_tail=") AS v(state, status, output, error, updated_at, finished_at, id) WHERE r.id = v.id",
)
INSERT_HISTORY = Statement(
    sqlite="INSERT INTO step_history (run_id, step_id, token, step_type, version_number, "
    "attempt, status, logical_time, recorded_at, input, output, error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    pg_head="INSERT INTO step_history (run_id, step_id, token, step_type, version_number, "
    "attempt, status, logical_time, recorded_at, input, output, error) VALUES ",
    pg_row=_row(["", "", "", "", "", "", "", "", "", "jsonb", "jsonb", "jsonb"]),
)
FINISH_LEDGER = Statement(
    sqlite="UPDATE action_ledger SET status = ?, output = ?, error = ?, "
    "lease_expires_at = NULL, updated_at = ? WHERE tenant_id = ? AND key = ? "
    "AND status = 'started'",
    pg_head="UPDATE action_ledger AS l SET status = v.status, output = v.output, "
    "error = v.error, lease_expires_at = NULL, updated_at = v.updated_at FROM (VALUES ",
    pg_row=_row(["varchar", "jsonb", "jsonb", "timestamptz", "varchar", "varchar"]),
    pg_tail=") AS v(status, output, error, updated_at, tenant_id, key) "
    "WHERE l.tenant_id = v.tenant_id AND l.key = v.key AND l.status = 'started'",
)
INSERT_LEDGER = Statement(
    sqlite="INSERT INTO action_ledger (tenant_id, key, run_id, token, step_id, action_id, "
    "action_version, attempt, status, calls, lease_expires_at, created_at, updated_at, "
    "timeout_ms, input) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'started', 1, ?, ?, ?, ?, ?)",
    pg_head="INSERT INTO action_ledger (tenant_id, key, run_id, token, step_id, action_id, "
    "action_version, attempt, status, calls, lease_expires_at, created_at, updated_at, "
    "timeout_ms, input) VALUES ",
    pg_row="(%s, %s, %s, %s, %s, %s, %s, %s, 'started', 1, %s, %s, %s, %s, %s::jsonb)",
)
