"""The database: its engine and the transaction helpers every store function runs in.

What each database needs set up (SQLite's WAL, ``BEGIN IMMEDIATE`` and busy timeout;
PostgreSQL's pool and plans) lives in its dialect (``store.dialects``), picked once here.
Beyond that, the writers of one SQLite process take turns on a lock before ``BEGIN
IMMEDIATE``: waiting there is first come, first served and wakes the moment the writer before
is done, where SQLite's busy handler sleeps and retries (up to 100 ms at a time) — under 32
concurrent writers that sleeping, not the work, made a second of p99.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from flowpin.store.codec import dumps, loads
from flowpin.store.dialects import Dialect, dialect_named

__all__ = ["Connection", "Database", "lost_connection", "resolve_url"]
"""``Connection``: the type of the connection every store function takes (layers above the
store name it from here, never from SQLAlchemy)."""

DEFAULT_URL = "sqlite:///flowpin.db"

KEPT_WRITE_PING_AFTER_S = 1.0
"""A kept write connection idle for longer is pinged before its next transaction."""


def resolve_url(url: str | None = None) -> str:
    """The database URL: explicit, else ``FLOWPIN_DATABASE_URL``, else ``flowpin.db`` here."""
    url = url or os.environ.get("FLOWPIN_DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection was lost or refused (a database restart, a network
    blip): a whole transaction may then be tried again on a new connection."""
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    )


def _spoke_meanwhile(connection: Connection) -> bool:
    """Whether the server sent something to this idle connection since its last transaction:
    a terminated session's notice and end of stream (a restart, ``pg_terminate_backend``),
    seen without a round trip by asking the socket. A healthy idle connection has nothing to
    read, since it listens to no channel."""
    fileno = getattr(connection.connection.dbapi_connection, "fileno", None)
    if fileno is None:
        return False
    try:
        readable, _, _ = select.select([fileno()], [], [], 0)
    except (OSError, ValueError):  # already closed
        return True
    return bool(readable)


def _alive(connection: Connection) -> bool:
    """Whether ``connection`` still answers; one that does not is invalidated (closed)."""
    try:
        connection.exec_driver_sql("SELECT 1")
        connection.rollback()
    except DBAPIError as exc:
        if not lost_connection(exc):
            raise
        connection.invalidate()
        return False
    return True


class Database:
    """One database: an SQLAlchemy engine plus the transaction helpers every repo uses."""

    def __init__(self, url: str | None = None, *, pool_size: int = 5) -> None:
        self.url = resolve_url(url)
        self.dialect: Dialect = dialect_named(sa.make_url(self.url).get_backend_name())
        kwargs: dict[str, Any] = {"json_serializer": dumps, "json_deserializer": loads}
        kwargs.update(self.dialect.engine_options(self.url, pool_size))
        self.engine: Engine = sa.create_engine(self.url, **kwargs)
        # One writer at a time anyway: this process's writers queue here, not in SQLite.
        self._write_turn: threading.RLock | None = (
            None if self.dialect.concurrent_writers else threading.RLock()
        )
        self._kept = threading.local()
        self._kept_all: list[Connection] = []
        self._writer: Connection | None = None
        """SQLite: the connection writes use, kept between them (they take turns on
        ``_write_turn``): no pool checkout and return per transaction."""
        self._kept_lock = threading.Lock()
        self.dialect.prepare(self.engine)

    @property
    def is_sqlite(self) -> bool:
        """Prefer asking ``self.dialect`` what it can do (``embedded``, ``notifies``, …)."""
        return self.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed on success, rolled back on error.

        SQLite: the writes of this process take turns, so they share one connection kept
        between them instead of a pool checkout and return each (with its reset): measured
        53 → 11 µs of CPU for an empty write transaction, together with the driver's own
        ``BEGIN IMMEDIATE`` (``dialects.sqlite``). A write nested in one of this thread's
        own, or after the kept connection was lost, takes a pool connection as before."""
        if self._write_turn is None:
            kept_writer = getattr(self._kept, "writes", False)
            if not kept_writer:
                with self.engine.begin() as connection:
                    yield connection
                return
            with self._kept_write() as connection:
                yield connection
            return
        with self._write_turn:
            kept = self._writer
            if kept is None or kept.closed or kept.invalidated:
                kept = self._writer = self.engine.connect()
                with self._kept_lock:
                    self._kept_all.append(kept)
            elif kept.in_transaction():  # nested in this thread's own write
                with self.engine.begin() as connection:
                    yield connection
                return
            with kept.begin():
                yield kept

    def keep_writes_on_this_thread(self) -> None:
        """On a networked database, this thread's writes keep one connection between them
        (``_kept_write``), for a thread that does nothing but short writes in turn (the API's
        group commits, ``engine.short_writes``). Other threads check a pool connection out
        and back in for each write, with its liveness ping."""
        self._kept.writes = True

    def release_kept_write(self) -> None:
        """Return this thread's kept write connection to the pool: the thread is about to end
        (a worker stopping), and the connection would otherwise hold its pool slot until the
        database is disposed of."""
        kept: Connection | None = getattr(self._kept, "writer", None)
        self._kept.writer = None
        if kept is not None:
            with self._kept_lock:
                if kept in self._kept_all:
                    self._kept_all.remove(kept)
            kept.close()

    @contextmanager
    def _kept_write(self) -> Iterator[Connection]:
        """A write transaction on this thread's kept connection: no pool checkout with its
        liveness ping round trip, and no reset on return. The connection is pinged only when
        the server sent it something since its last use (what a dropped session receives) or
        after it sat idle (``KEPT_WRITE_PING_AFTER_S``), and replaced if it does not answer. One
        that dies during a transaction raises (as a pool connection would), and the next write
        takes a new one."""
        kept: Connection | None = getattr(self._kept, "writer", None)
        connection = kept
        if connection is not None and (
            connection.closed
            or connection.invalidated
            or (
                (
                    _spoke_meanwhile(connection)
                    or time.monotonic() - self._kept.write_used > KEPT_WRITE_PING_AFTER_S
                )
                and not _alive(connection)
            )
        ):
            connection = None
        if connection is None:
            if kept is not None:
                with self._kept_lock:
                    if kept in self._kept_all:  # not yet closed by ``dispose``
                        self._kept_all.remove(kept)
                kept.close()
            connection = self.engine.connect()
            self._kept.writer = connection
            with self._kept_lock:
                self._kept_all.append(connection)
        try:
            with connection.begin():
                yield connection
        finally:
            self._kept.write_used = time.monotonic()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (never takes SQLite's write lock)."""
        with (
            self.engine.connect().execution_options(flowpin_read_only=True) as connection,
            connection.begin(),
        ):
            yield connection

    @contextmanager
    def read_kept(self) -> Iterator[Connection]:
        """Reads on a connection the calling thread keeps between calls: no pool checkout and
        return (with its rollback) per read. For the API's event loop on SQLite, where a read
        is one indexed lookup and the checkout cost more than the lookup (measured).

        No transaction is begun up front: a statement on the driver's cursor
        (``statements.DriverRead``) runs in SQLite's autocommit mode, consistent in itself,
        and the BEGIN and COMMIT around it cost more than the lookup too. So each such read
        sees the database as of its own start; a Core statement in the block begins a
        read-only transaction as ``read`` does, ended when the block ends. For reads of one
        row, or of rows written together with it.

        On a networked database (PostgreSQL) the kept connection is in autocommit mode: each
        statement sees the database as of its own start, as it does inside a READ COMMITTED
        transaction, without the BEGIN, the ROLLBACK and the pool's liveness ping round trips
        around it. A kept connection that died (a server restart) raises once and is replaced
        on the next read (``Engine`` reads again at once: ``lost_connection``)."""
        connection: Connection | None = getattr(self._kept, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            options: dict[str, Any] = {"flowpin_read_only": True}
            if not self.dialect.embedded:
                options["isolation_level"] = "AUTOCOMMIT"
            connection = self.engine.connect().execution_options(**options)
            self._kept.connection = connection
            with self._kept_lock:
                self._kept_all.append(connection)
        try:
            yield connection
        finally:
            if connection.in_transaction():  # never left open: it would pin the WAL
                connection.rollback()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from flowpin.store.migrate import upgrade

        upgrade(self)

    def dispose(self) -> None:
        with self._kept_lock:
            kept, self._kept_all = self._kept_all, []
        for connection in kept:
            connection.close()
        self.engine.dispose()
