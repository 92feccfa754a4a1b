"""SQLite, the embedded default, set up for a durable queue.

- WAL journal, so readers never block the writer and the writer never blocks readers;
- ``synchronous=NORMAL``: in WAL mode a commit is durable against a process crash (SIGKILL), and
  only an OS crash or power loss can drop the last transactions — the usual trade for a
  10× cheaper commit;
- ``busy_timeout`` so a second writer (the API thread beside the worker, a CLI) waits for the
  lock instead of failing with "database is locked";
- write transactions start with ``BEGIN IMMEDIATE``: taking the write lock up front avoids the
  deadlock where two deferred transactions both read, then both try to upgrade to write. One
  writer at a time, so a select-then-update is atomic without row locks;
- foreign keys enforced;
- a list parameter is JSON text read back with ``json_each``; times are naive UTC text;
- no cross-process notifications: wake-ups are in-process, the poll is the backstop.

(The writers of one process also take turns on a lock before ``BEGIN IMMEDIATE``: see
``store.database.Database.write``.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from flowpin.store.codec import dumps

BUSY_TIMEOUT_MS = 30_000
WAL_AUTOCHECKPOINT_PAGES = 10_000


class SQLite:
    name = "sqlite"
    concurrent_writers = False
    notifies = False
    embedded = True
    naive_times = True

    def engine_options(self, url: str, pool_size: int) -> dict[str, Any]:
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            raise ValueError("flowpin needs a SQLite file (workers and API share it)")
        path = sa.make_url(url).database
        if path:
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        return {"connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}}

    def prepare(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take over transaction control from the sqlite3 module, which would otherwise
            # BEGIN lazily (DEFERRED) on the first write.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            # A worker checkpoints the log on a thread of its own (``store.wal``); a commit
            # does it only past this backstop (~40 MB of log), not at SQLite's default of
            # 1,000 pages.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            mode = connection.get_execution_options().get("flowpin_read_only")
            sql = "BEGIN" if mode else "BEGIN IMMEDIATE"
            # On the driver's connection: SQLAlchemy's execution of a statement (context,
            # events, result object) cost several times SQLite's BEGIN, once per transaction.
            # Its errors are wrapped as Core's would be (``database.lost_connection``).
            try:
                connection.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
            except sqlite3.Error as exc:
                raise sa.exc.DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

    def locked(self, query: Any, *, key_share: bool = False, skip_locked: bool = False) -> Any:
        return query  # the write transaction already holds the database

    def in_list(self, column: Any, parameter: Any) -> Any:
        return column.in_(sa.select(sa.column("value")).select_from(sa.func.json_each(parameter)))

    def list_type(self, column: Any) -> Any:
        return sa.String

    def list_value(self, values: list[Any]) -> Any:
        return dumps(list(values))

    def unindexed(self, column: Any) -> Any:
        # SQLite's documented unary +: it disqualifies the term from using an index, for a
        # column of any type (``column + 0`` would concatenate a text column).
        return UnaryExpression(column, operator=custom_op("+"), type_=column.type)

    def next_in_queue(self, sequence: Any, fallback: Any) -> Any:
        return fallback  # writers are serialized: one more than the last cannot collide

    def notify(self, conn: Connection, channel: str, payload: str) -> None:
        return None

    def insert_or_skip(self, table: Any) -> Any:
        from sqlalchemy.dialects.sqlite import insert

        return insert(table).on_conflict_do_nothing()

    def bulk_time(self, value: Any, formatted: dict[Any, str]) -> Any:
        # The storage format of SQLAlchemy's SQLite DateTime (naive UTC, fixed width), so
        # values written here compare and read back like those written through Core. A batch
        # has few distinct times (many history rows share their logical time): format each
        # once.
        # ``isoformat`` with microseconds always, cut before the offset: the same text as
        # ``strftime("%Y-%m-%d %H:%M:%S.%f")`` at a third of its cost (two per step).
        text = formatted.get(value)
        if text is None:
            utc = value if value.tzinfo is UTC else value.astimezone(UTC)
            text = formatted[value] = utc.isoformat(" ", "microseconds")[:26]
        return text

    def bulk_write(self, conn: Connection, statement: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        # One prepared statement, executemany's C loop.
        conn.exec_driver_sql(statement.sqlite, list(rows))
