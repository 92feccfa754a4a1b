"""``Database.write`` on SQLite: one connection kept for writes (they take turns anyway), begun
with ``BEGIN IMMEDIATE`` on the driver's own connection. What must hold: each write is its own
transaction on it (committed, or rolled back and left clean), a write nested in another on the
same thread still gets a connection of its own, a lost connection is replaced, and a failed
``BEGIN`` surfaces as Core's error (``lost_connection`` reads it)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from flowpin.store.database import Database


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with database.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (v INTEGER)")
    yield database
    database.dispose()


def values(db: Database) -> list[int]:
    with db.read() as conn:
        return [v for (v,) in conn.exec_driver_sql("SELECT v FROM t ORDER BY v")]


def test_writes_share_one_kept_connection_each_its_own_transaction(db: Database) -> None:
    with db.write() as first:
        first.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert first.connection.driver_connection.in_transaction
    with db.write() as second:
        second.exec_driver_sql("INSERT INTO t VALUES (2)")
    assert second is first
    assert not first.in_transaction()
    assert values(db) == [1, 2]


def test_a_failed_write_rolls_back_and_leaves_the_kept_connection_clean(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        raise RuntimeError("boom")
    assert not conn.in_transaction()
    with db.write() as again:
        again.exec_driver_sql("INSERT INTO t VALUES (2)")
    assert values(db) == [2]


def test_a_nested_write_gets_its_own_connection(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'nested.sqlite'}")
    sa.event.listen(
        db.engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=0")
    )
    try:
        with db.write() as outer:
            outer.exec_driver_sql("CREATE TABLE t (v INTEGER)")
        # The outer transaction holds SQLite's lock, so the inner one cannot begin; but it
        # must not be handed the outer one's connection (a second BEGIN on it).
        with db.write() as outer:
            with pytest.raises(sa.exc.OperationalError, match="locked"), db.write():
                pass  # (the outer connection would refuse a second BEGIN, not be locked)
            assert outer.in_transaction()
            outer.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert values(db) == [1]
    finally:
        db.dispose()


def test_a_lost_kept_connection_is_replaced(db: Database) -> None:
    with db.write() as first:
        pass
    first.invalidate()
    with db.write() as second:
        second.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert second is not first
    assert values(db) == [1]


def test_a_refused_begin_is_cores_operational_error(db: Database, tmp_path: Path) -> None:
    with db.write() as conn:
        conn.exec_driver_sql("PRAGMA busy_timeout=0")
    holder = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sa.exc.OperationalError, match="locked"), db.write():
            pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with db.write() as again:
        again.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert values(db) == [1]
