"""Environment secrets (``FLOWPIN_ENV_SECRET_<NAME>``) reach only the tenants an operator names,
and no secret name reaches one of flowpin's own settings - above all the master key
``FLOWPIN_SECRET_KEY`` - whether the secret goes out through ``http.request``, ``email.send`` or
a value built with an expression. Run on SQLite and PostgreSQL, through the HTTP API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from flowpin.api import create_app
from flowpin.cli.main import app as cli
from flowpin.engine import Engine
from flowpin.security.secrets import ENV_PREFIX, TENANTS_ENV, EnvironmentSecrets

MASTER_KEY = "master-passphrase-0451"
HOOK_TOKEN = "env-hook-token-0451"
NAMES = ("HOOK_TOKEN", "KEY", "SECRET_KEY", "DATABASE_URL")
"""The environment secret, then names that would reach settings under the old prefix."""
CHANNELS = ("http", "email", "expression")
SRC = Path(__file__).resolve().parents[3] / "src" / "flowpin"


def _step(channel: str, name: str, hook_url: str, smtp_port: int) -> dict[str, Any]:
    secret = {"$secret": name}
    if channel == "http":
        mapping: dict[str, Any] = {
            "method": "POST",
            "url": hook_url,
            "headers": {"Authorization": secret},
        }
        action = "http.request"
    elif channel == "email":
        mapping = {
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "username": "mailer",
                "password": secret,
                "timeoutMs": 5000,
            },
            "from": "ops@example.test",
            "to": ["ann@example.test"],
            "subject": "probe",
            "textBody": "probe",
        }
        action = "email.send"
    else:  # a secret inside a value that expressions build around it
        mapping = {
            "method": "POST",
            "url": {"$expr": "payload.url"},
            "body": {"who": {"$expr": "payload.who"}, "token": secret},
        }
        action = "http.request"
    return {
        "id": "probe",
        "type": "action.call",
        "config": {"actionId": action, "version": 1, "inputMapping": mapping},
    }


def _workflow_key(channel: str, name: str) -> str:
    return f"{channel}-{name.lower().replace('_', '-')}"


class Tenant:
    """One tenant's admin, through the HTTP API (in process, no socket)."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        self.headers = {"Authorization": f"Bearer {key}"}

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.request(method, url, headers=self.headers, **kwargs)

        response = asyncio.run(send())
        assert response.status_code < 400, response.text
        return response.json()

    def start_probes(self, hook_url: str, smtp_port: int) -> dict[tuple[str, str], str]:
        runs = {}
        for channel in CHANNELS:
            for name in NAMES:
                key = _workflow_key(channel, name)
                draft = {"key": key, "steps": [_step(channel, name, hook_url, smtp_port)]}
                self.call("POST", "/api/workflows", json={"key": key, "draft": draft})
                self.call("POST", f"/api/workflows/{key}/publish")
                payload = {"url": hook_url, "who": "probe"}
                started = self.call("POST", "/api/runs", json={"workflow": key, "payload": payload})
                runs[(channel, name)] = started["runId"]
        return runs

    def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/runs/{run_id}"))


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    """A server's environment: the master key, the database URL and one environment secret."""
    monkeypatch.setenv("FLOWPIN_SECRET_KEY", MASTER_KEY)
    monkeypatch.setenv("FLOWPIN_DATABASE_URL", db_url)
    monkeypatch.setenv(ENV_PREFIX + "HOOK_TOKEN", HOOK_TOKEN)
    monkeypatch.delenv(TENANTS_ENV, raising=False)


@pytest.fixture
def served(db_url: str, operator_env: None) -> Iterator[tuple[Engine, Any]]:
    with Engine(db_url, tenant="acme") as engine:
        yield engine, create_app(engine)


def _not_found(run: dict[str, Any]) -> bool:
    error = run.get("error") or {}
    return run["status"] == "FAILED" and (error.get("data") or {}).get("code") == (
        "secret.not_found"
    )


def test_a_second_tenant_reads_no_environment_secret_and_no_setting(
    served: tuple[Engine, Any],
    http_server: Any,
    smtp_factory: Callable[..., Any],
    allow_loopback: None,
) -> None:
    engine, app = served
    http_server.route("/hook", 200, {"ok": True})
    smtp = smtp_factory(credentials=("mailer", HOOK_TOKEN))
    hook_url = http_server.url("/hook")
    own = Tenant(app, engine.create_api_key("admin").key)
    second = Tenant(app, engine.for_tenant("other").create_api_key("admin").key)

    second_runs = second.start_probes(hook_url, smtp.port)
    engine.run_worker(until_idle=True)
    for probe, run_id in second_runs.items():
        run = second.run(run_id)
        assert _not_found(run), (probe, run)
        assert HOOK_TOKEN not in str(run) and MASTER_KEY not in str(run)
    assert http_server.requests == [] and smtp.logins == []  # nothing went out

    own_runs = own.start_probes(hook_url, smtp.port)
    engine.run_worker(until_idle=True)
    for (channel, name), run_id in own_runs.items():
        run = own.run(run_id)
        if name == "HOOK_TOKEN":  # the engine's own tenant reads its environment secret
            assert run["status"] == "SUCCEEDED", ((channel, name), run)
        else:  # and no name reaches the master key or any other setting
            assert _not_found(run), ((channel, name), run)
    sent = [
        seen.headers.get("authorization") or seen.json()["token"] for seen in http_server.requests
    ]
    assert sent == [HOOK_TOKEN, HOOK_TOKEN]  # http and expression, nothing else
    assert smtp.logins == [("mailer", HOOK_TOKEN)]


def test_operators_name_the_tenants_that_read_environment_secrets(
    db_url: str, operator_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TENANTS_ENV, "other, beta")
    with Engine(db_url, tenant="acme") as engine:
        lookup = engine.deps.executor.secrets
        assert lookup("other", "HOOK_TOKEN") == lookup("beta", "HOOK_TOKEN") == HOOK_TOKEN
        with pytest.raises(KeyError):  # naming tenants replaces the default
            lookup("acme", "HOOK_TOKEN")
        for name in ("KEY", "SECRET_KEY"):
            with pytest.raises(KeyError):
                lookup("other", name)
    with Engine(db_url, tenant="acme", env_secret_tenants=["*"]) as engine:
        assert engine.deps.executor.secrets("anyone", "HOOK_TOKEN") == HOOK_TOKEN
    with Engine(db_url, tenant="acme", env_secret_tenants=[]) as engine, pytest.raises(KeyError):
        engine.deps.executor.secrets("acme", "HOOK_TOKEN")


def test_the_old_prefix_is_no_longer_read_and_says_so(
    db_url: str, operator_env: None, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setenv("FLOWPIN_SECRET_OLD_STYLE_TOKEN", "old-value-7731")
    with Engine(db_url, tenant="acme") as engine, pytest.raises(KeyError):
        engine.deps.executor.secrets("acme", "OLD_STYLE_TOKEN")
    assert "rename it FLOWPIN_ENV_SECRET_OLD_STYLE_TOKEN" in caplog.text
    assert "old-value-7731" not in caplog.text


def test_the_worker_option_names_the_tenants(
    db_url: str, operator_env: None, http_server: Any, allow_loopback: None
) -> None:
    http_server.route("/hook", 200, {"ok": True})
    hook_url = http_server.url("/hook")
    with Engine(db_url, tenant="acme") as engine:
        other = engine.for_tenant("other")
        definition = {"key": "hook", "steps": [_step("http", "HOOK_TOKEN", hook_url, 25)]}
        other.publish(definition)
        run_id = other.start("hook", {})
        result = CliRunner().invoke(
            cli, ["worker", "--db", db_url, "--until-idle", "--env-secrets-tenant", "other"]
        )
        assert result.exit_code == 0, result.output
        assert other.get_run(run_id)["status"] == "SUCCEEDED"
    assert [seen.headers["authorization"] for seen in http_server.requests] == [HOOK_TOKEN]


def test_no_secret_name_reaches_a_flowpin_setting() -> None:
    """Every ``FLOWPIN_*`` setting the code names, set in the environment, is out of reach
    of every secret name a suffix of it would make - for a lookup open to every tenant."""
    settings = {
        name
        for path in SRC.rglob("*.py")
        for name in re.findall(r"FLOWPIN_[A-Z0-9_]*[A-Z0-9]", path.read_text())
    }
    assert {"FLOWPIN_SECRET_KEY", "FLOWPIN_DATABASE_URL", TENANTS_ENV} <= settings
    assert not [name for name in settings if name.startswith(ENV_PREFIX)]
    environ = {name: f"value of {name}" for name in settings}
    lookup = EnvironmentSecrets(["*"], environ)
    for setting in settings:
        parts = setting.split("_")
        for cut in range(len(parts)):
            with pytest.raises(KeyError):
                lookup("acme", "_".join(parts[cut:]))
