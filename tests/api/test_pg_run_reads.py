"""``GET /api/runs/{id}`` on PostgreSQL reads on one of the engine's few reading threads, on a
connection the thread keeps in autocommit mode (``Engine.short_reads``,
``Database.read_kept``): no transaction is left open behind a read, and a kept connection the
server dropped is replaced within the same request."""

from __future__ import annotations

from apikit import WAITER, Client
from pgkit import backends, drop_every_session, raw_url

from flowpin import Engine


def test_a_run_read_leaves_no_transaction_open(db_url: str, client: Client, engine: Engine) -> None:
    raw = raw_url(db_url)
    engine.publish(WAITER)
    parked = engine.start(WAITER["key"], {}, subject="s-1")  # its open waits are read too
    engine.run_worker(until_idle=True)
    for _ in range(3):
        answer = client.get(f"/api/runs/{parked}")
        assert answer.status_code == 200 and answer.json()["status"] == "WAITING"
        assert answer.json()["waitingFor"]
    assert [state for _pid, state in backends(raw) if state != "idle"] == []


def test_a_run_read_outlives_its_kept_connection(
    db_url: str, client: Client, engine: Engine
) -> None:
    raw = raw_url(db_url)
    engine.publish(WAITER)
    run_id = engine.start(WAITER["key"], {}, subject="s-1")
    assert client.get(f"/api/runs/{run_id}").status_code == 200
    drop_every_session(raw)  # a restart, as the reader sees it
    for _ in range(3):  # whichever reading thread takes it, its dead connection is replaced
        answer = client.get(f"/api/runs/{run_id}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["runId"] == run_id
