"""Secrets through HTTP: stored encrypted per tenant, never returned, admin only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from apikit import Client, error_code

from flowpin import Engine
from flowpin.store import tables as t


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPIN_SECRET_KEY", "a passphrase for tests")
    monkeypatch.delenv("FLOWPIN_ENV_SECRET_SMTP_PASSWORD", raising=False)


def test_secrets_round_trip(client: Client, engine: Engine, keys: dict[str, str]) -> None:
    created = client.put("/api/secrets/SMTP_PASSWORD", json={"value": "hunter2"})
    assert created.status_code == 201, created.text
    assert "value" not in created.json() and "hunter2" not in created.text
    assert client.put("/api/secrets/SMTP_PASSWORD", json={"value": "hunter3"}).status_code == 200
    described = client.get("/api/secrets/SMTP_PASSWORD").json()
    assert described["name"] == "SMTP_PASSWORD" and "hunter" not in str(described)
    assert [s["name"] for s in client.get("/api/secrets").json()["items"]] == ["SMTP_PASSWORD"]
    with engine.db.read() as conn:
        stored = conn.execute(sa.select(t.secrets.c.ciphertext)).scalar_one()
    assert "hunter" not in stored
    # what an action call resolves: the stored value for this tenant, nothing for another
    lookup = engine.deps.executor.secrets
    assert lookup("acme", "SMTP_PASSWORD") == "hunter3"
    with pytest.raises(KeyError):
        lookup("other", "SMTP_PASSWORD")

    assert client.as_key(keys["editor"]).get("/api/secrets").status_code == 403
    intruder = client.as_key(keys["other"])
    assert intruder.get("/api/secrets/SMTP_PASSWORD").status_code == 404
    assert intruder.delete("/api/secrets/SMTP_PASSWORD").status_code == 404
    assert intruder.get("/api/secrets").json() == {"items": []}

    bad = client.put("/api/secrets/lower-case", json={"value": "x"})
    assert bad.status_code == 400 and error_code(bad) == "secret.bad_name"
    assert client.delete("/api/secrets/SMTP_PASSWORD").status_code == 204
    assert client.get("/api/secrets/SMTP_PASSWORD").status_code == 404
    assert client.delete("/api/secrets/SMTP_PASSWORD").status_code == 404


def test_secrets_need_a_key(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWPIN_SECRET_KEY")
    refused = client.put("/api/secrets/TOKEN", json={"value": "x"})
    assert refused.status_code == 409 and error_code(refused) == "secrets.no_key"


def test_environment_is_the_fallback(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPIN_ENV_SECRET_SMTP_PASSWORD", "from-env")
    assert engine.deps.executor.secrets("acme", "SMTP_PASSWORD") == "from-env"
    with pytest.raises(KeyError):  # by default only the engine's own tenant reads them
        engine.deps.executor.secrets("other", "SMTP_PASSWORD")
    engine.put_secret("SMTP_PASSWORD", "stored")
    assert engine.deps.executor.secrets("acme", "SMTP_PASSWORD") == "stored"
