"""The README walk-through against a real ``flowpin serve --examples`` process on 127.0.0.1:
contacts API, signup event, welcome email in the SMTP sink, webhook, resume over the delay,
open, follow-up. Settings reach the example through its environment variables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from journeys_kit import SmtpSink, WebhookServer, free_port

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "flowpin.cli.main"]
DEADLINE_SECONDS = 30


def eventually(probe: Callable[[], Any], what: str) -> Any:
    """``probe()`` once it is truthy; fails after DEADLINE_SECONDS (a bound, not a threshold)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            value = probe()
        except httpx.TransportError:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def served(
    db_url: str, smtp_sink: SmtpSink, webhook_server: WebhookServer
) -> Iterator[httpx.Client]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWPIN_", "JOURNEYS_"))}
    env.update(
        JOURNEYS_SMTP_PORT=str(smtp_sink.port),
        JOURNEYS_WEBHOOK_URL=webhook_server.url(),
        FLOWPIN_HTTP_ALLOW="127.0.0.1",
    )
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--examples", "--db", db_url, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(process.stdout or []), name="serve-output", daemon=True
    )
    reader.start()
    try:
        key = eventually(
            lambda: next((ln for ln in lines if ln.startswith("FLOWPIN_API_KEY=")), None),
            "the admin key",
        )
        headers = {"Authorization": f"Bearer {key.split('=', 1)[1].strip()}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
            eventually(lambda: http.get("/api/health").status_code == 200, "the server")
            yield http
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0, "".join(lines)


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

    eventually(lambda: waiting_at("delay"), "the 2-day delay")
    [welcome] = smtp_sink.messages
    assert welcome["Subject"] == "Welcome aboard, Ann!"
    [hook] = webhook_server.received
    assert hook.body["contactId"] == "ann" and hook.body["track"] == "pro"

    assert http.post(f"/api/runs/{run_id}/resume").status_code == 200
    eventually(lambda: waiting_at("wait-open"), "the open wait")
    opened = http.post("/api/events", json={"name": "email.opened", "key": "ann"}).json()
    assert opened["resumed"] == [run_id]

    run = eventually(
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
