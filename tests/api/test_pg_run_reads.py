"""``GET /api/runs/{id}`` on PostgreSQL reads on one of the engine's few reading threads, on a
connection the thread keeps in autocommit mode (``Engine.short_reads``,
``Database.read_kept``): no transaction is left open behind a read, and a kept connection the
server dropped is replaced within the same request."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from apikit import WAITER, Client

from flowpin import Engine


def _raw(db_url: str) -> str:
    if db_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL connection's life; SQLite reads on the event loop")
    return db_url.replace("postgresql+psycopg://", "postgresql://")


def _backends(raw: str) -> list[Any]:
    """The other sessions on this database: (pid, state)."""
    with psycopg.connect(raw, autocommit=True) as admin:
        return admin.execute(
            "SELECT pid, state FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()


def test_a_run_read_leaves_no_transaction_open(db_url: str, client: Client, engine: Engine) -> None:
    raw = _raw(db_url)
    engine.publish(WAITER)
    parked = engine.start(WAITER["key"], {}, subject="s-1")  # its open waits are read too
    engine.run_worker(until_idle=True)
    for _ in range(3):
        answer = client.get(f"/api/runs/{parked}")
        assert answer.status_code == 200 and answer.json()["status"] == "WAITING"
        assert answer.json()["waitingFor"]
    assert [state for _pid, state in _backends(raw) if state != "idle"] == []


def test_a_run_read_outlives_its_kept_connection(
    db_url: str, client: Client, engine: Engine
) -> None:
    raw = _raw(db_url)
    engine.publish(WAITER)
    run_id = engine.start(WAITER["key"], {}, subject="s-1")
    assert client.get(f"/api/runs/{run_id}").status_code == 200
    with psycopg.connect(raw, autocommit=True) as admin:  # a restart, as the reader sees it
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    for _ in range(3):  # whichever reading thread takes it, its dead connection is replaced
        answer = client.get(f"/api/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["runId"] == run_id
