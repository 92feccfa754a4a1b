"""Returned run data is redacted by key pattern; the stored state keeps the real values."""

from __future__ import annotations

from typing import Any

from apikit import WAITER, Client

from flowpin import Engine
from flowpin.api import create_app


def _finished_run(client: Client, engine: Engine) -> str:
    client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    client.post("/api/workflows/waiter/publish")
    run_id = client.post(
        "/api/runs", json={"workflow": "waiter", "subject": "s", "payload": {"n": 1, "apiKey": "k"}}
    ).json()["runId"]
    engine.run_worker(until_idle=True)
    client.post("/api/events", json={"name": "go", "key": "s", "payload": {"password": "pw"}})
    engine.run_worker(until_idle=True)
    return str(run_id)


def test_history_and_state_are_redacted(client: Client, engine: Engine) -> None:
    run_id = _finished_run(client, engine)
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "SUCCEEDED"
    assert run["state"]["payload"] == {"n": 1, "apiKey": "[redacted]"}
    assert run["output"] == {"password": "[redacted]"}
    steps = client.get(f"/api/runs/{run_id}/steps").text
    assert '"pw"' not in steps and '"k"' not in steps
    stored = engine.get_run(run_id, history=True)
    assert stored["output"] == {"password": "pw"}
    assert stored["state"]["payload"]["apiKey"] == "k"


def test_redaction_can_be_configured(engine: Engine, keys: dict[str, str]) -> None:
    app: Any = create_app(engine, redact_keys=r"^n$")
    client = Client(app, keys["admin"])
    try:
        run_id = _finished_run(client, engine)
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["state"]["payload"] == {"n": "[redacted]", "apiKey": "k"}
        unredacted = Client(create_app(engine, redact_keys=None), keys["admin"])
        assert unredacted.get(f"/api/runs/{run_id}").json()["output"] == {"password": "pw"}
        unredacted.close()
    finally:
        client.close()
