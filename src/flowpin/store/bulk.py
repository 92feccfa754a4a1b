"""The hot statements of a checkpoint, written through the driver's ``executemany``.

A group commit writes hundreds of rows; going through SQLAlchemy's per-parameter type
processing cost more than SQLite itself (measured: ~60 % of the checkpoint time). These few
statements therefore take rows of already-serialised values (JSON text via orjson, times in the
column's storage form) and hand them to the DBAPI cursor directly. Everything else in flowpin
uses SQLAlchemy Core. The SQL is the same on both databases but for the placeholder style.
"""

from __future__ import annotations

from collections.abc import Sequence
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


class Bulk:
    """Statement texts and value encoders for one connection's dialect."""

    def __init__(self, conn: Connection) -> None:
        self.sqlite = conn.dialect.name == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if not self.sqlite:
            return value
        # The storage format of SQLAlchemy's SQLite DateTime (naive UTC, fixed width), so
        # values written here compare and read back like those written through Core.
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def sql(self, template: str) -> str:
        return template.replace("?", self.mark)


def executemany(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(sql, list(rows))


UPDATE_HELD_RUNS = (
    "UPDATE runs SET state = ?, status = ?, current_step = ?, updated_at = ? WHERE id = ?"
)
RELEASE_RUNS = (
    "UPDATE runs SET state = ?, status = ?, current_step = ?, updated_at = ?, wake_at = NULL, "
    "lease_owner = NULL, lease_expires_at = NULL WHERE id = ?"
)
UPDATE_TERMINAL_RUNS = (
    "UPDATE runs SET state = ?, status = ?, current_step = NULL, output = ?, error = ?, "
    "updated_at = ?, finished_at = ?, wake_at = NULL, lease_owner = NULL, "
    "lease_expires_at = NULL, active_subject_key = NULL WHERE id = ?"
)
INSERT_HISTORY = (
    "INSERT INTO step_history (run_id, step_id, token, step_type, version_number, attempt, "
    "status, logical_time, recorded_at, input, output, error) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
FINISH_LEDGER = (
    "UPDATE action_ledger SET status = ?, output = ?, error = ?, lease_expires_at = NULL, "
    "updated_at = ? WHERE tenant_id = ? AND key = ? AND status = 'started'"
)
INSERT_LEDGER = (
    "INSERT INTO action_ledger (tenant_id, key, run_id, token, step_id, action_id, "
    "action_version, attempt, status, calls, lease_expires_at, created_at, updated_at, "
    "timeout_ms, input) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'started', 1, ?, ?, ?, ?, ?)"
)
