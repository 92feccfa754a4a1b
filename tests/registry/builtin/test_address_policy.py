"""One address policy for every connection a built-in opens (SPEC §8): a workflow's
``email.send`` or ``http.request`` to a target the policy refuses, to a closed port and to a
filtered one (a TCP connect that never completes) fails with the same error, so a workflow
cannot map the network by its errors; the operator's log says which it was. Run through the
Engine on SQLite and PostgreSQL; nothing leaves 127.0.0.1 (refused targets are never
contacted)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from flowpin.engine import Engine

STEPS: dict[str, dict[str, Any]] = {
    "email.send": {
        "smtp": {
            "host": {"$expr": "payload.host"},
            "port": {"$expr": "payload.port"},
            "security": "none",
            "timeoutMs": 500,
        },
        "from": "ops@example.test",
        "to": ["ann@example.test"],
        "subject": "probe",
        "textBody": "probe",
    },
    "http.request": {
        "url": {"$expr": "'http://' & payload.host & ':' & $string(payload.port) & '/'"},
        "timeoutMs": 500,
    },
}


def _definition(action: str) -> dict[str, Any]:
    return {
        "key": action.replace(".", "-"),
        "steps": [
            {
                "id": "probe",
                "type": "action.call",
                "config": {"actionId": action, "version": 1, "inputMapping": STEPS[action]},
            }
        ],
    }


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def filtered_port() -> Iterator[int]:
    """A port whose TCP connects time out like a firewalled one: a listener with a backlog of
    one, filled by a connection nobody accepts, so the kernel drops further SYNs."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        filler.connect(("127.0.0.1", port))
        yield port


def _error(engine: Engine, action: str, port: int) -> dict[str, Any]:
    run_id = engine.start(action.replace(".", "-"), {"host": "127.0.0.1", "port": port})
    engine.run_worker(until_idle=True)
    run = engine.get_run(run_id)
    assert run["status"] == "FAILED", run
    return {key: value for key, value in run["error"].items() if key != "at"}


@pytest.mark.parametrize("action", ["email.send", "http.request"])
def test_refused_closed_and_filtered_targets_fail_the_same(
    action: str,
    db_url: str,
    closed_port: int,
    filtered_port: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    allow_env = "FLOWPIN_SMTP_ALLOW" if action == "email.send" else "FLOWPIN_HTTP_ALLOW"
    monkeypatch.delenv(allow_env, raising=False)
    with Engine(db_url) as engine:
        engine.publish(_definition(action))
        refused = {port: _error(engine, action, port) for port in (closed_port, filtered_port)}
        monkeypatch.setenv(allow_env, "127.0.0.1")  # now the connection is attempted
        closed = _error(engine, action, closed_port)
        filtered = _error(engine, action, filtered_port)

    assert closed == refused[closed_port]
    assert filtered == refused[filtered_port]
    assert closed["category"] == "ActionError"
    assert closed["data"] == {"reason": "unreachable", "host": "127.0.0.1", "port": closed_port}
    assert closed["message"].replace(str(closed_port), "PORT") == filtered["message"].replace(
        str(filtered_port), "PORT"
    )
    assert allow_env in closed["message"]
    # the operator's log tells the three apart
    reasons = [r.getMessage() for r in caplog.records if r.name == "flowpin.security"]
    assert any("refused by the address policy" in reason for reason in reasons)
    assert any(
        "ConnectionRefused" in reason or "All connection attempts failed" in reason
        for reason in reasons
    )
    assert any(str(filtered_port) in reason and "imed out" in reason for reason in reasons), reasons
