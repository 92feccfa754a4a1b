"""The README walk-through against a real ``flowpin serve --examples`` process on 127.0.0.1:
contacts API, signup event, welcome email in the SMTP sink, webhook, an open tracked during the
delay, resume over the delay, follow-up. Settings reach the example through its environment
variables."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from journeys_kit import SmtpSink, WebhookServer

from servekit import clean_env, flowpin_serve
from waiting import wait_until


@pytest.fixture
def served(
    db_url: str, smtp_sink: SmtpSink, webhook_server: WebhookServer
) -> Iterator[httpx.Client]:
    env = clean_env(
        JOURNEYS_SMTP_PORT=str(smtp_sink.port),
        JOURNEYS_WEBHOOK_URL=webhook_server.url(),
        FLOWPIN_HTTP_ALLOW="127.0.0.1",
        FLOWPIN_SMTP_ALLOW="127.0.0.1",
    )
    with flowpin_serve(db_url, "--examples", env=env) as http:
        yield http


def test_the_readme_journey_over_a_real_server(
    served: httpx.Client, smtp_sink: SmtpSink, webhook_server: WebhookServer
) -> None:
    http = served
    contact = {"id": "ann", "email": "ann@example.com", "data": {"firstName": "Ann"}}
    assert http.post("/examples/journeys/contacts", json=contact).status_code == 201
    event = {"name": "contact.signed_up", "key": "ann", "payload": {"plan": "pro"}}
    [run_id] = http.post("/api/events", json=event).json()["started"]

    def waiting_at(step: str) -> bool:
        run = http.get(f"/api/runs/{run_id}").json()
        return any(w["stepId"] == step for w in run["waitingFor"])

    wait_until(lambda: waiting_at("delay"), "the 2-day delay")
    [welcome] = smtp_sink.messages
    assert welcome["Subject"] == "Welcome aboard, Ann!"
    [hook] = webhook_server.received
    assert hook.body["contactId"] == "ann" and hook.body["track"] == "pro"

    opened = http.post("/examples/journeys/contacts/ann/track", json={"event": "email.opened"})
    assert opened.status_code == 202 and opened.json()["resumed"] == []  # during the delay
    assert http.post(f"/api/runs/{run_id}/resume").status_code == 200  # the wait takes it

    run = wait_until(
        lambda: (r := http.get(f"/api/runs/{run_id}").json())["status"] == "SUCCEEDED" and r,
        "the run to finish",
    )
    assert run["output"]["exit"] == "completed"
    assert [m["Subject"] for m in smtp_sink.messages] == [
        "Welcome aboard, Ann!",
        "Ann, three tips for your pro account",
    ]
    ann = http.get("/examples/journeys/contacts/ann").json()
    assert ann["data"] == {"firstName": "Ann", "track": "pro", "welcomeSeries": "completed"}
