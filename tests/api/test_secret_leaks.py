"""A secret used by a workflow through the API appears in no response and nowhere in the
database (the secrets table holds it encrypted) — even when the handler echoes it back or
raises an error quoting it (SPEC §8)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apikit import Client
from pydantic import BaseModel

from flowpin import Engine
from flowpin.registry.actions import action
from flowpin.security.redaction import MASK


class Login(BaseModel):
    user: str
    password: str


class Session(BaseModel):
    user: str
    note: str


SEEN: list[str] = []


@action("test.login", version=1, effect="none")
def login(data: Login) -> Session:
    """Echoes its secret, as a careless or hostile handler could."""
    SEEN.append(data.password)
    return Session(user=data.user, note=f"logged in with {data.password}")


@action("test.reject", version=1, effect="none")
def reject(data: Login) -> Session:
    raise RuntimeError(f"password {data.password} refused for {data.user}")


WORKFLOW = {
    "key": "uses-secret",
    "steps": [
        {
            "id": "login",
            "type": "action.call",
            "config": {
                "actionId": "test.login",
                "version": 1,
                "inputMapping": {"user": {"$expr": "payload.user"}, "password": {"$secret": "PW"}},
                "saveAs": "vars.session",
            },
        },
        {
            "id": "guarded",
            "type": "control.tryCatch",
            "try": [
                {
                    "id": "reject",
                    "type": "action.call",
                    "config": {
                        "actionId": "test.reject",
                        "version": 1,
                        "inputMapping": {"user": "x", "password": {"$secret": "PW"}},
                    },
                }
            ],
            "catch": [],
            "captureErrorAs": "vars.failure",
        },
        {"id": "end", "type": "control.return", "output": {"$expr": "vars"}},
    ],
}


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPIN_SECRET_KEY", "a passphrase for tests")


def _database_text(engine: Engine, db_url: str) -> str:
    """Everything the database holds, as text: the SQLite files' bytes, or each PostgreSQL
    table of the test's schema row by row as JSON."""
    if db_url.startswith("sqlite"):
        path = Path(sa.make_url(db_url).database or "")
        files = [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-journal"))]
        return "".join(f.read_bytes().decode("latin-1") for f in files if f.exists())
    chunks = []
    with engine.db.read() as conn:
        tables = conn.execute(
            sa.text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ).scalars()
        for table in list(tables):
            rows = conn.execute(sa.text(f'SELECT row_to_json(t)::text FROM "{table}" t'))
            chunks.extend(rows.scalars())
    return "\n".join(chunks)


def test_a_secret_is_in_no_response_and_nowhere_in_the_database(
    client: Client, engine: Engine, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = f"pw-{uuid.uuid4().hex}"
    SEEN.clear()
    engine.register(login, reject)
    responses: list[Any] = []

    def call(method: str, url: str, **kwargs: Any) -> Any:
        response = client.request(method, url, **kwargs)
        assert response.status_code < 400, response.text
        responses.append(response)
        return response

    call("PUT", "/api/secrets/PW", json={"value": secret})
    call("POST", "/api/workflows", json={"key": "uses-secret", "draft": WORKFLOW})
    call("POST", "/api/workflows/uses-secret/publish")
    run_id = call("POST", "/api/runs", json={"workflow": "uses-secret", "payload": {"user": "ann"}})
    run_id = run_id.json()["runId"]
    engine.run_worker(until_idle=True)

    run = call("GET", f"/api/runs/{run_id}").json()
    steps = call("GET", f"/api/runs/{run_id}/steps").json()["items"]
    call("GET", "/api/runs")
    call("GET", "/api/runs?workflow=uses-secret&status=SUCCEEDED")
    call("GET", "/api/secrets/PW")
    call("GET", "/api/secrets")

    assert [secret] == SEEN  # the handler did get the real value
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["session"] == {"user": "ann", "note": f"logged in with {MASK}"}
    assert run["output"]["failure"]["message"] == f"RuntimeError: password {MASK} refused for x"
    assert {s["stepId"] for s in steps} >= {"login", "reject"}
    for response in responses:
        assert secret not in response.text

    stored = _database_text(engine, db_url)
    assert run_id in stored and "logged in with" in stored  # the dump does hold the run
    assert secret not in stored
    assert "refused for x" in caplog.text  # the handler's error was logged, scrubbed
    assert secret not in caplog.text


def test_echoed_secret_is_masked_in_state_and_history(engine: Engine) -> None:
    """Without the API: what the worker stores is already scrubbed."""
    engine.register(login, reject)
    engine.put_secret("PW", "correct horse battery staple")
    engine.publish(WORKFLOW)
    run_id = engine.start("uses-secret", {"user": "bo"})
    engine.run_worker(until_idle=True)
    run = engine.get_run(run_id, history=True)
    assert run["state"]["vars"]["session"]["note"] == f"logged in with {MASK}"
    assert "correct horse" not in str(run)
