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
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection

# Re-exported: the bulk rows' values are encoded with these.
from flowpin.store.codec import dumps as dumps
from flowpin.store.codec import json_param as json_param
from flowpin.store.codec import loads as loads
from flowpin.store.dialects import dialect_of


@dataclass(frozen=True, slots=True)
class Statement:
    """One hot statement in two forms: SQLite runs ``sqlite`` through ``executemany`` (one
    prepared statement, C loop); PostgreSQL runs ``pg`` once for the whole batch, with one
    array parameter per column (``unnest(%s::jsonb[], …)``). Its text never changes with the
    batch size, so psycopg parses it once and the server prepares it once; a multi-row
    ``VALUES`` list with a placeholder per value cost a regex pass over thousands of
    placeholders on every call, and a round of parse/bind/execute per row cost ~50 µs even
    when pipelined (measured)."""

    sqlite: str
    pg: str
    row: type[tuple[Any, ...]] | None = None
    """The named row type the statement takes (its fields in the statement's column order):
    ``Bulk.write`` refuses other rows, so two values of one type cannot swap places silently."""


class Bulk:
    """Value encoders and the statement runner for one connection's dialect."""

    def __init__(self, conn: Connection) -> None:
        self.dialect = dialect_of(conn)
        self._times: dict[datetime, str] = {}

    def time(self, value: datetime | None) -> Any:
        """``value`` in its column's storage form (see ``Dialect.bulk_time``)."""
        return None if value is None else self.dialect.bulk_time(value, self._times)

    def write(
        self, conn: Connection, statement: Statement, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        if not rows:
            return
        if statement.row is not None and not isinstance(rows[0], statement.row):
            raise TypeError(f"{statement.row.__name__} rows expected, got {type(rows[0])!r}")
        self.dialect.bulk_write(conn, statement, rows)


class RunRow(NamedTuple):
    """A row of ``UPDATE_HELD_RUNS`` and ``RELEASE_RUNS``."""

    state: str
    status: str
    current_step: str | None
    positions: str
    updated_at: Any
    id: str


class SteppedRunRow(NamedTuple):
    """A row of ``UPDATE_STEPPED_RUNS`` (the status did not change)."""

    state: str
    current_step: str | None
    positions: str
    updated_at: Any
    id: str


class RequeuedRunRow(NamedTuple):
    """A row of ``REQUEUE_RUNS``."""

    state: str
    status: str
    current_step: str | None
    positions: str
    updated_at: Any
    wake_at: Any
    id: str


class TerminalRunRow(NamedTuple):
    """A row of ``UPDATE_TERMINAL_RUNS``."""

    state: str
    status: str
    positions: str
    output: str | None
    error: str | None
    updated_at: Any
    finished_at: Any
    id: str


class HistoryRow(NamedTuple):
    """A row of ``INSERT_HISTORY``."""

    run_id: str
    step_id: str
    token: str
    step_type: str
    version_number: int
    attempt: int
    status: str
    logical_time: Any
    recorded_at: Any
    started_at: Any
    input: str | None
    output: str | None
    error: str | None
    detail: str | None


def unnest(columns: str, casts: str, *, ordinality: bool = False) -> str:
    """``unnest(%s::a[], %s::b[], …) AS v(columns)``: the batch as a relation, one array per
    column (``casts``: the element types, in order). Binary parameters (``%b``): the text
    format escapes every element with a regex (measured: 4× slower for JSON documents)."""
    arrays = ", ".join(f"%b::{cast}[]" for cast in casts.split())
    ordinal = " WITH ORDINALITY" if ordinality else ""
    return f"unnest({arrays}){ordinal} AS v({columns})"


_RUN_COLUMNS = "state, status, current_step, positions, updated_at, id"
_RUN_CASTS = "jsonb varchar varchar text timestamptz varchar"

# Every statement that writes a run's state writes its positions (runtime.positions) with it.
UPDATE_HELD_RUNS = Statement(
    sqlite="UPDATE runs SET state = ?, status = ?, current_step = ?, positions = ?, "
    "updated_at = ? WHERE id = ?",
    pg="UPDATE runs AS r SET state = v.state, status = v.status, "
    "current_step = v.current_step, positions = v.positions, updated_at = v.updated_at "
    f"FROM {unnest(_RUN_COLUMNS, _RUN_CASTS)} WHERE r.id = v.id",
    row=RunRow,
)
UPDATE_STEPPED_RUNS = Statement(
    sqlite="UPDATE runs SET state = ?, current_step = ?, positions = ?, updated_at = ? "
    "WHERE id = ?",
    pg="UPDATE runs AS r SET state = v.state, current_step = v.current_step, "
    "positions = v.positions, updated_at = v.updated_at FROM "
    + unnest(
        "state, current_step, positions, updated_at, id", "jsonb varchar text timestamptz varchar"
    )
    + " WHERE r.id = v.id",
    row=SteppedRunRow,
)
"""A held run whose status did not change: leaving ``status`` out of the SET spares SQLite the
CHECK constraints and index entries that read it."""
RELEASE_RUNS = Statement(
    sqlite="UPDATE runs SET state = ?, status = ?, current_step = ?, positions = ?, "
    "updated_at = ?, wake_at = NULL, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
    pg="UPDATE runs AS r SET state = v.state, status = v.status, "
    "current_step = v.current_step, positions = v.positions, updated_at = v.updated_at, "
    "wake_at = NULL, lease_owner = NULL, lease_expires_at = NULL "
    f"FROM {unnest(_RUN_COLUMNS, _RUN_CASTS)} WHERE r.id = v.id",
    row=RunRow,
)
REQUEUE_RUNS = Statement(
    sqlite="UPDATE runs SET state = ?, status = ?, current_step = ?, positions = ?, "
    "updated_at = ?, wake_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ?",
    pg="UPDATE runs AS r SET state = v.state, status = v.status, "
    "current_step = v.current_step, positions = v.positions, updated_at = v.updated_at, "
    "wake_at = v.wake_at, lease_owner = NULL, lease_expires_at = NULL FROM "
    + unnest(
        "state, status, current_step, positions, updated_at, wake_at, id",
        "jsonb varchar varchar text timestamptz timestamptz varchar",
    )
    + " WHERE r.id = v.id",
    row=RequeuedRunRow,
)
"""A run that spent its CPU budget for the claim: released and claimable from ``wake_at``
(the checkpoint's time), so the claim, oldest ``wake_at`` first, takes the runs already waiting
before it."""
UPDATE_TERMINAL_RUNS = Statement(
    sqlite="UPDATE runs SET state = ?, status = ?, current_step = NULL, positions = ?, "
    "output = ?, error = ?, updated_at = ?, finished_at = ?, wake_at = NULL, "
    "lease_owner = NULL, lease_expires_at = NULL, active_subject_key = NULL WHERE id = ?",
    pg="UPDATE runs AS r SET state = v.state, status = v.status, current_step = NULL, "
    "positions = v.positions, output = v.output, error = v.error, updated_at = v.updated_at, "
    "finished_at = v.finished_at, wake_at = NULL, lease_owner = NULL, "
    "lease_expires_at = NULL, active_subject_key = NULL FROM "
    + unnest(
        "state, status, positions, output, error, updated_at, finished_at, id",
        "jsonb varchar text jsonb jsonb timestamptz timestamptz varchar",
    )
    + " WHERE r.id = v.id",
    row=TerminalRunRow,
)
_HISTORY_COLUMNS = (
    "run_id, step_id, token, step_type, version_number, attempt, status, logical_time, "
    "recorded_at, started_at, input, output, error, detail"
)
INSERT_HISTORY = Statement(
    sqlite=f"INSERT INTO step_history ({_HISTORY_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    # WITH ORDINALITY … ORDER BY: ids follow the batch's order (history is read by id).
    pg=f"INSERT INTO step_history ({_HISTORY_COLUMNS}) SELECT {_HISTORY_COLUMNS} FROM "
    + unnest(
        _HISTORY_COLUMNS + ", n",
        "varchar varchar varchar varchar int int varchar timestamptz timestamptz timestamptz "
        "jsonb jsonb jsonb jsonb",
        ordinality=True,
    )
    + " ORDER BY n",
    row=HistoryRow,
)
