"""Test kit for the journeys example: a journeys engine (a real database, the example installed
against the test's SMTP sink, a fake clock that lets days pass in milliseconds) and the state of
the loopback servers the fixtures in ``conftest.py`` start."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from examples.journeys.contacts import ContactStore
from examples.journeys.tracking import track

from examples.journeys import JourneySettings, install, mount
from flowpin.api import create_app
from flowpin.clock import FakeClock
from flowpin.engine import Engine
from flowpin.store.waits import EventOutcome
from flowpin.testing.kit import advance

DAY = timedelta(days=1)


class Journeys:
    def __init__(self, db_url: str, settings: JourneySettings) -> None:
        self.clock = FakeClock()
        self.engine = Engine(db_url, clock=self.clock)
        install(self.engine, settings)
        self.contacts = ContactStore(self.engine.db, self.clock)

    def close(self) -> None:
        self.engine.close()

    def contact(self, email: str, *, subscribed: bool = True, **data: Any) -> str:
        return self.contacts.create("default", email, data=data, subscribed=subscribed).id

    def signup(self, contact_id: str, **payload: Any) -> EventOutcome:
        """``contact.signed_up`` for the contact, then work until nothing is runnable."""
        outcome = self.engine.send_event("contact.signed_up", contact_id, payload)
        self.engine.run_worker(until_idle=True)
        return outcome

    def opened(self, contact_id: str) -> EventOutcome:
        """The contact opened the email, reported through the example's tracking path."""
        outcome = track(self.engine, contact_id, "email.opened", {"campaign": "welcome"})
        self.engine.run_worker(until_idle=True)
        return outcome

    @contextmanager
    def api(self) -> Iterator[tuple[ApiClient, dict[str, str]]]:
        """flowpin's API with the example's routes over this engine (and its fake clock), and
        the headers of an editor key."""
        app = create_app(self.engine)
        mount(app, self.engine)
        key = self.engine.create_api_key("editor").key
        client = ApiClient(app)
        try:
            yield client, {"Authorization": f"Bearer {key}"}
        finally:
            client.close()

    def advance(self, delta: timedelta) -> None:
        """Move the clock by ``delta``, firing every timer on the way, in order."""
        advance(self.engine, self.clock, delta)

    def run(self, run_id: str) -> dict[str, Any]:
        return self.engine.get_run(run_id)

    def steps(self, run_id: str) -> list[str]:
        """Ids of the steps the run has completed, in order."""
        return [
            entry["stepId"]
            for entry in self.engine.history(run_id)
            if entry["status"] == "succeeded"
        ]

    def output_of(self, run_id: str, step_id: str) -> Any:
        entries = [e for e in self.engine.history(run_id) if e["stepId"] == step_id]
        assert entries, f"step {step_id} has no history"
        return entries[-1]["output"]


# --------------------------------------------------------------------------- servers


@dataclass
class SmtpSink:
    """Messages the server accepted. ``fail_next`` makes the next DATA answer ``451`` *after*
    the message arrived — what a sender sees when a relay times out but delivered anyway."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    fail_next: int = 0


class Collect:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content.replace(b"\r\n", b"\n")
        self.sink.messages.append(message_from_bytes(content, policy=policy.default))
        self.sink.recipients.append(list(envelope.rcpt_tos))
        if self.sink.fail_next:
            self.sink.fail_next -= 1
            return "451 Requested action aborted: local error in processing"
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class WebhookServer:
    port: int
    received: list[Hook] = field(default_factory=list)

    def url(self, path: str = "/hooks/journeys") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class HookHandler(BaseHTTPRequestHandler):
    server: HookServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.state.received.append(Hook(self.path, headers, body))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HookServer(ThreadingHTTPServer):
    daemon_threads = True
    state: WebhookServer


class ApiClient:
    """Synchronous calls into the ASGI app through ``httpx.ASGITransport`` (no sockets), on one
    event loop for the whole test."""

    def __init__(self, app: Any) -> None:
        import asyncio

        import httpx

        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://flowpin.test"
        )

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        return self._loop.run_until_complete(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()
