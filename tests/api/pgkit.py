"""The PostgreSQL sessions behind the API's kept connections, as the tests of their lives see
them (``test_pg_run_reads``, ``test_pg_run_writes``)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest


def raw_url(db_url: str) -> str:
    """``db_url`` for psycopg itself; skips the test on SQLite."""
    if db_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL connection's life")
    return db_url.replace("postgresql+psycopg://", "postgresql://")


def backends(raw: str) -> list[Any]:
    """The other sessions on this database: (pid, state)."""
    with psycopg.connect(raw, autocommit=True) as admin:
        return admin.execute(
            "SELECT pid, state FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()


def drop_every_session(raw: str) -> None:
    """What a server restart does to the connections flowpin keeps."""
    with psycopg.connect(raw, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
