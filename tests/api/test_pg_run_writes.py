"""``POST /api/runs`` and ``POST /api/events`` on PostgreSQL write their group commits on the
engine's one writing thread, which keeps its connection (``Engine.short_writes``,
``Database.keep_writes_on_this_thread``): no pool checkout and liveness ping per commit, no
transaction left open behind a write, a kept connection the server dropped replaced before the
next write, and a connection lost during a write answered as the database being unavailable
(503, try again), never as a defect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from apikit import WAITER, Client
from pgkit import backends, drop_every_session, raw_url
from sqlalchemy import event

from flowpin import Engine
from flowpin.store import database


def _start(client: Client) -> Any:
    return client.post("/api/runs", json={"workflow": WAITER["key"], "payload": {}})


@contextmanager
def _checkouts(engine: Engine) -> Iterator[list[str]]:
    """The pool checkouts made inside the block, by thread."""
    seen: list[str] = []

    def checkout(*_args: Any) -> None:
        seen.append(threading.current_thread().name)

    event.listen(engine.db.engine, "checkout", checkout)
    try:
        yield seen
    finally:
        event.remove(engine.db.engine, "checkout", checkout)


def test_starts_and_events_share_one_kept_connection(
    db_url: str, client: Client, engine: Engine
) -> None:
    raw = raw_url(db_url)
    engine.publish(WAITER)

    def start_and_send(n: int) -> None:
        started = client.post(
            "/api/runs", json={"workflow": WAITER["key"], "payload": {}, "subject": f"s-{n}"}
        )
        assert started.status_code == 201, started.text
        sent = client.post("/api/events", json={"name": "go", "key": f"s-{n}"})
        assert sent.status_code in (200, 201, 202), sent.text

    start_and_send(0)  # the writing thread's first write takes its connection
    with _checkouts(engine) as checkouts:
        for n in range(1, 6):
            start_and_send(n)
    assert checkouts == []  # ten writes, no checkout: each pool checkout cost a ping
    assert [state for _pid, state in backends(raw) if state != "idle"] == []


def test_a_kept_write_connection_dropped_while_idle_is_replaced_before_the_next_write(
    db_url: str, client: Client, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = raw_url(db_url)
    engine.publish(WAITER)
    assert _start(client).status_code == 201
    drop_every_session(raw)
    # Every kept connection counts as having sat idle long enough to be pinged first.
    monkeypatch.setattr(database, "KEPT_WRITE_PING_AFTER_S", 0.0)
    answer = _start(client)
    assert answer.status_code == 201, answer.text


def test_a_kept_write_connection_dropped_in_use_is_replaced_before_the_next_write(
    db_url: str, client: Client, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = raw_url(db_url)
    engine.publish(WAITER)
    assert _start(client).status_code == 201
    monkeypatch.setattr(database, "KEPT_WRITE_PING_AFTER_S", 3600.0)  # in steady use: no ping
    drop_every_session(raw)
    answer = _start(client)  # what the server sent the dropped session tells
    assert answer.status_code == 201, answer.text


def test_a_connection_lost_during_a_write_is_a_503_not_a_defect(
    db_url: str, client: Client, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = raw_url(db_url)
    engine.publish(WAITER)
    assert _start(client).status_code == 201
    monkeypatch.setattr(database, "KEPT_WRITE_PING_AFTER_S", 3600.0)
    # It dies after the check: as in a restart while the transaction runs.
    monkeypatch.setattr(database, "_spoke_meanwhile", lambda _connection: False)
    drop_every_session(raw)
    lost = _start(client)
    assert lost.status_code == 503, lost.text
    assert lost.json()["error"]["code"] == "database.unavailable"
    assert lost.headers["retry-after"] == "1"
    again = _start(client)  # the dead connection was let go: the next write takes a new one
    assert again.status_code == 201, again.text
