"""The contacts API mounted by the example, and the path a product takes through it: create a
contact, report its signup to ``POST /api/events``, find its journey by subject."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from journeys_kit import ApiClient, SmtpSink
from typer.testing import CliRunner

from examples.journeys import JourneySettings, install, mount
from flowpin.api import create_app
from flowpin.cli.main import app as cli
from flowpin.engine import Engine

ROOT = Path(__file__).resolve().parents[3]
CONTACTS = "/examples/journeys/contacts"


@pytest.fixture
def api(db_url: str, smtp_sink: SmtpSink) -> Iterator[tuple[ApiClient, Engine, dict[str, str]]]:
    engine = Engine(db_url)
    try:
        install(engine, JourneySettings(smtp_port=smtp_sink.port))
        app = create_app(engine)
        mount(app, engine)
        keys = {role: engine.create_api_key(role).key for role in ("viewer", "editor")}
        keys["other"] = engine.for_tenant("other").create_api_key("admin").key
        client = ApiClient(app)
        try:
            yield client, engine, keys
        finally:
            client.close()
    finally:
        engine.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_contacts_are_created_read_updated_and_unsubscribed(api: Any) -> None:
    client, _, keys = api
    editor, viewer = auth(keys["editor"]), auth(keys["viewer"])

    created = client.post(
        CONTACTS, json={"email": "ann@example.test", "data": {"firstName": "Ann"}}, headers=editor
    )
    assert created.status_code == 201, created.text
    ann = created.json()
    assert ann["subscribed"] is True and ann["data"] == {"firstName": "Ann"}

    patched = client.patch(
        f"{CONTACTS}/{ann['id']}",
        json={"data": {"plan": "pro", "firstName": None}},
        headers=editor,
    )
    assert patched.json()["data"] == {"plan": "pro"}  # merged; null removes a key
    assert client.get(f"{CONTACTS}/{ann['id']}", headers=viewer).json()["data"] == {"plan": "pro"}
    found = client.get(CONTACTS, params={"email": "ann@example.test"}, headers=viewer).json()
    assert [c["id"] for c in found["items"]] == [ann["id"]]

    gone = client.post(f"{CONTACTS}/{ann['id']}/unsubscribe", headers=editor).json()
    assert gone["subscribed"] is False


def test_contact_errors_are_flowpin_errors(api: Any) -> None:
    client, _, keys = api
    editor = auth(keys["editor"])
    client.post(CONTACTS, json={"email": "bob@example.test", "id": "bob"}, headers=editor)

    again = client.post(CONTACTS, json={"email": "bob@example.test"}, headers=editor)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "contact.exists")
    missing = client.get(f"{CONTACTS}/nobody", headers=editor)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "contact.not_found")
    assert client.post(CONTACTS, json={"email": "x@y.z"}).status_code == 401
    viewer = client.post(CONTACTS, json={"email": "x@y.z"}, headers=auth(keys["viewer"]))
    assert viewer.status_code == 403
    assert client.get(f"{CONTACTS}/bob", headers=auth(keys["other"])).status_code == 404


def test_a_signup_event_starts_the_contacts_journey(api: Any, smtp_sink: SmtpSink) -> None:
    client, engine, keys = api
    editor = auth(keys["editor"])
    ann = client.post(
        CONTACTS, json={"email": "ann@example.test", "data": {"firstName": "Ann"}}, headers=editor
    ).json()

    event = {"name": "contact.signed_up", "key": ann["id"], "payload": {"plan": "pro"}}
    outcome = client.post("/api/events", json=event, headers=editor).json()
    engine.run_worker(until_idle=True)

    [run_id] = outcome["started"]
    runs = client.get("/api/runs", params={"subject": ann["id"]}, headers=editor).json()
    assert [r["runId"] for r in runs["items"]] == [run_id]
    [welcome] = smtp_sink.messages
    assert welcome["Subject"] == "Welcome aboard, Ann!"
    contact = client.get(f"{CONTACTS}/{ann['id']}", headers=editor).json()
    assert contact["data"] == {"firstName": "Ann", "track": "pro", "welcomeSeries": "started"}


def test_tracked_events_are_kept_for_the_journeys_window(api: Any) -> None:
    client, _, keys = api
    editor = auth(keys["editor"])
    client.post(CONTACTS, json={"email": "cat@example.test", "id": "cat"}, headers=editor)

    tracked = client.post(
        f"{CONTACTS}/cat/track", json={"event": "email.opened", "eventId": "o-1"}, headers=editor
    )
    assert tracked.status_code == 202, tracked.text
    assert tracked.json()["resumed"] == [] and tracked.json()["started"] == []
    [event] = client.get("/api/events", params={"name": "email.opened"}, headers=editor).json()[
        "items"
    ]
    assert (event["key"], event["eventId"], event["payload"]) == ("cat", "o-1", {})
    kept = datetime.fromisoformat(event["expiresAt"]) - datetime.fromisoformat(event["receivedAt"])
    assert kept == timedelta(days=5)  # the 2-day delay plus the 3 days the journey waits

    again = client.post(
        f"{CONTACTS}/cat/track", json={"event": "email.opened", "eventId": "o-1"}, headers=editor
    )
    assert again.json()["duplicate"] is True
    missing = client.post(f"{CONTACTS}/nobody/track", json={"event": "x"}, headers=editor)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "contact.not_found")
    other = client.post(f"{CONTACTS}/cat/track", json={"event": "x"}, headers=auth(keys["other"]))
    assert other.status_code == 404
    viewer = client.post(f"{CONTACTS}/cat/track", json={"event": "x"}, headers=auth(keys["viewer"]))
    assert viewer.status_code == 403
    assert client.post(f"{CONTACTS}/cat/track", json={}, headers=editor).status_code == 400


def test_the_journey_validates_with_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # `--actions` imports from the working directory
    result = CliRunner().invoke(
        cli,
        [
            "validate",
            "--actions",
            "examples.journeys.actions",
            "examples/journeys/workflows/welcome-series.json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "welcome-series.json: valid" in result.output
