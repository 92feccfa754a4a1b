"""The hot request path (issue 14): ``GET /api/runs/{id}`` read on the event loop over a
connection the loop keeps (SQLite), answered as the same JSON; nothing a client sees changes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apikit import WAITER, Client

from flowpin import Engine
from flowpin.api import create_app
from flowpin.engine.start_commits import Started, StartIn, check_start
from flowpin.security.redaction import MASK
from flowpin.store import tables as t

SECRETIVE = {**WAITER, "key": "secretive", "settings": {"redact": ["/payload/card"]}}


def _publish(client: Client, document: dict[str, Any]) -> None:
    key = document["key"]
    assert client.post("/api/workflows", json={"key": key, "draft": document}).status_code == 201
    assert client.post(f"/api/workflows/{key}/publish").status_code == 201


def test_a_read_sees_each_change_and_keeps_the_masks(client: Client, engine: Engine) -> None:
    _publish(client, SECRETIVE)
    started = client.post(
        "/api/runs", json={"workflow": "secretive", "subject": "s", "payload": {"card": "4242"}}
    ).json()
    first = client.get(f"/api/runs/{started['runId']}")
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.json() == started
    assert first.json()["state"]["payload"]["card"] == MASK

    engine.cancel(started["runId"])  # written on another connection, after the first read
    second = client.get(f"/api/runs/{started['runId']}").json()
    assert second["status"] == "CANCELED"
    assert second["waitingFor"] == []
    assert second["state"]["payload"]["card"] == MASK


def test_a_parked_run_shows_its_wait_and_other_tenants_see_nothing(
    client: Client, engine: Engine, keys: dict[str, str], app: Any
) -> None:
    _publish(client, WAITER)
    run_id = engine.start(WAITER["key"], {}, subject="s-1")
    engine.run_worker(until_idle=True)
    parked = client.get(f"/api/runs/{run_id}").json()
    assert parked["status"] == "WAITING"
    assert [w["kind"] for w in parked["waitingFor"]] == ["event"]
    other = Client(app, keys["other"])
    try:
        missing = other.get(f"/api/runs/{run_id}")
    finally:
        other.close()
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "run.not_found"


def test_a_kept_read_reuses_its_connection_and_sees_new_commits(engine: Engine) -> None:
    db = engine.db
    with db.read_kept() as conn:
        first = conn.connection.dbapi_connection
        assert conn.execute(_count()).scalar() == 0
    engine.create_api_key("viewer")
    with db.read_kept() as conn:
        assert conn.connection.dbapi_connection is first
        assert conn.execute(_count()).scalar() == 1


def test_a_plain_read_leaves_nothing_open_that_pins_the_wal(tmp_path: Path) -> None:
    """``GET /api/runs/{id}`` reads on the kept connection without a transaction of its own
    (a parked run's waits are a Core read, which begins one); afterwards no snapshot may stay
    open, or SQLite could never checkpoint its WAL back into the database."""
    path = tmp_path / "wal.db"
    with Engine(f"sqlite:///{path}") as engine:
        engine.publish(WAITER)
        run_id = engine.start(WAITER["key"], {}, subject="s-1")
        engine.run_worker(until_idle=True)
        client = Client(create_app(engine), engine.create_api_key("viewer").key)
        try:
            for _ in range(3):
                parked = client.get(f"/api/runs/{run_id}")
                assert parked.status_code == 200
                assert [w["kind"] for w in parked.json()["waitingFor"]] == ["event"]
            with sqlite3.connect(path) as other:
                busy, _log, _moved = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0
        finally:
            client.close()


def _count() -> Any:
    return sa.select(sa.func.count()).select_from(t.api_keys)


QUEUED = {**WAITER, "key": "queued", "settings": {"concurrencyKey": {"$expr": "payload.thread"}}}


def test_a_batch_of_starts_mixing_plain_keyed_and_queued_runs(engine: Engine) -> None:
    engine.publish(WAITER)
    engine.publish(QUEUED)
    outcomes = engine.start_checked(
        [
            check_start(item)
            for item in [
                *[StartIn("waiter", {"n": n}, subject=f"p{n}") for n in range(5)],
                StartIn("waiter", {"n": 9}, idempotency_key="once"),
                StartIn("waiter", {"n": 9}, idempotency_key="once"),
                StartIn("queued", {"thread": "t"}),
                StartIn("queued", {"thread": "t"}),
            ]
        ]
    )
    started = [o for o in outcomes if isinstance(o, Started)]
    assert len(started) == 9
    assert started[5].run_id == started[6].run_id and not started[6].created
    for outcome in started[:5]:
        assert engine.get_run(outcome.run_id) == outcome.view
    with engine.db.read() as conn:
        seqs = conn.execute(
            sa.select(t.runs.c.id, t.runs.c.concurrency_seq).where(
                t.runs.c.workflow_key == "queued"
            )
        ).all()
    by_id = dict(seqs)
    assert by_id[started[7].run_id] < by_id[started[8].run_id]
