"""Engine creation and per-connection setup, the only place that knows connection details.

SQLite (the embedded default) is set up for a durable queue:
- WAL journal, so readers never block the writer and the writer never blocks readers;
- ``synchronous=NORMAL``: in WAL mode a commit is durable against a process crash (SIGKILL), and
  only an OS crash or power loss can drop the last transactions — the usual trade for a
  10× cheaper commit;
- ``busy_timeout`` so a second writer (the API thread beside the worker, a CLI) waits for the
  lock instead of failing with "database is locked";
- write transactions start with ``BEGIN IMMEDIATE``: taking the write lock up front avoids the
  deadlock where two deferred transactions both read, then both try to upgrade to write;
- foreign keys enforced;
- the writers of one process take turns on a lock before ``BEGIN IMMEDIATE``: waiting there is
  first come, first served and wakes the moment the writer before is done, where SQLite's busy
  handler sleeps and retries (up to 100 ms at a time) — under 32 concurrent writers that
  sleeping, not the work, made a second of p99.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from flowpin.store.bulk import dumps, loads

DEFAULT_URL = "sqlite:///flowpin.db"
BUSY_TIMEOUT_MS = 30_000
WAL_AUTOCHECKPOINT_PAGES = 10_000
CONNECT_TIMEOUT_S = 10


def resolve_url(url: str | None = None) -> str:
    """The database URL: explicit, else ``FLOWPIN_DATABASE_URL``, else ``flowpin.db`` here."""
    url = url or os.environ.get("FLOWPIN_DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module, which would otherwise BEGIN
        # lazily (DEFERRED) on the first write.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # A worker checkpoints the log on a thread of its own (``store.wal``); a commit does it
        # only past this backstop (~40 MB of log), not at SQLite's default of 1,000 pages.
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("flowpin_read_only")
        connection.exec_driver_sql("BEGIN" if mode else "BEGIN IMMEDIATE")


def _setup_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # psycopg prepares a statement run five times; PostgreSQL then caches a generic plan,
        # made once from the statistics of that moment. A queue's tables go from empty to
        # thousands of rows faster than autovacuum analyzes them, and a plan made for an empty
        # ``run_inbox`` (a sequential scan) stayed in use at 5,000 rows: 20 ms a call instead
        # of 0.3 ms (measured). Custom plans see the tables' current size; parsing is still
        # saved, planning costs ~0.1 ms per statement, and flowpin's statements are per batch.
        cursor = dbapi_connection.cursor()
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        cursor.close()
        dbapi_connection.commit()


class Database:
    """One database: an SQLAlchemy engine plus the transaction helpers every repo uses."""

    def __init__(self, url: str | None = None, *, pool_size: int = 5) -> None:
        self.url = resolve_url(url)
        kwargs: dict[str, Any] = {"json_serializer": dumps, "json_deserializer": loads}
        if self.url.startswith("sqlite"):
            if ":memory:" in self.url or self.url in ("sqlite://", "sqlite:///"):
                raise ValueError("flowpin needs a SQLite file (workers and API share it)")
            path = sa.make_url(self.url).database
            if path:
                Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            kwargs["pool_pre_ping"] = True
            # A server that never answers (a filtered port) fails in seconds, not never.
            if "connect_timeout" not in sa.make_url(self.url).query:
                kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        self.engine: Engine = sa.create_engine(self.url, **kwargs)
        self.dialect = self.engine.dialect.name
        self._write_turn: threading.RLock | None = None
        if self.dialect == "sqlite":
            self._write_turn = threading.RLock()
            _setup_sqlite(self.engine)
        else:
            _setup_postgres(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed on success, rolled back on error."""
        if self._write_turn is None:
            with self.engine.begin() as connection:
                yield connection
            return
        with self._write_turn, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (never takes SQLite's write lock)."""
        with (
            self.engine.connect().execution_options(flowpin_read_only=True) as connection,
            connection.begin(),
        ):
            yield connection

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from flowpin.store.migrate import upgrade

        upgrade(self)

    def dispose(self) -> None:
        self.engine.dispose()
