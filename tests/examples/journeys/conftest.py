"""Real servers on 127.0.0.1 for the journeys example: an SMTP sink (aiosmtpd) that keeps every
message, and an HTTP server (stdlib) that receives the application webhook. Both listen on a
random free port and are stopped by their fixture."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # `examples` is a package of the repository root
    sys.path.insert(0, str(ROOT))

from journeys_kit import Collect, HookHandler, HookServer, SmtpSink, WebhookServer, free_port  # noqa: E402


@pytest.fixture
def smtp_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """The sink is on loopback, which email.send reaches only when the operator allows it."""
    from aiosmtpd.controller import Controller

    monkeypatch.setenv("FLOWPIN_SMTP_ALLOW", "127.0.0.1")

    sink = SmtpSink(port=free_port())
    controller = Controller(Collect(sink), hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    server = HookServer(("127.0.0.1", 0), HookHandler)
    server.state = WebhookServer(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
