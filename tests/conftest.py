"""Shared fixtures. ``db_url`` runs a test on SQLite (a temporary file) and on PostgreSQL (a
fresh schema per test on 127.0.0.1:5432); PostgreSQL is skipped, with the reason shown, when no
server answers there."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytest_plugins = ["harness"]
"""The ``harness`` fixture (tests/harness.py), shared by tests/engine and tests/store."""

PG_URL = os.environ.get("FLOWPIN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=2):
            return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {PG_URL}: {exc}"


_PG_REASON: str | None = None
_PG_CHECKED = False


def pg_skip_reason() -> str | None:
    global _PG_CHECKED, _PG_REASON
    if not _PG_CHECKED:
        _PG_REASON = _pg_available()
        _PG_CHECKED = True
    return _PG_REASON


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A URL on a fresh PostgreSQL schema, dropped afterwards (skips when no server answers).
    The drop waits up to 30 s for a connection: a test may have restarted the server."""
    reason = pg_skip_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    raw = PG_URL.replace("+psycopg", "")
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(raw, autocommit=True, connect_timeout=30) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'flowpin.db'}"
        return
    with pg_schema("t") as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """PostgreSQL only (a fleet of worker processes on one database)."""
    with pg_schema("fleet") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'flowpin.db'}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``db_url`` shared by the tests of one module (one schema, migrated once): for tests that
    each make what they need in a tenant of their own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module') / 'flowpin.db'}"
        return
    with pg_schema("m") as url:
        yield url
