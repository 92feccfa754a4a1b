"""Fixtures of the pinning tests: an engine on a controlled clock (``db_url``: SQLite and
PostgreSQL) and a real SMTP sink (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pinkit import SinkHandler, SmtpSink, World

from flowpin.clock import FakeClock
from flowpin.engine import Engine
from flowpin.registry.builtin.email_send import configure_email_send


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    sink = SmtpSink("127.0.0.1", port)
    controller = Controller(SinkHandler(sink), hostname=sink.host, port=sink.port)
    controller.start()
    previous = configure_email_send(allow=["127.0.0.1"])
    try:
        yield sink
    finally:
        configure_email_send(previous)
        controller.stop()


@pytest.fixture
def world(db_url: str, smtp: SmtpSink) -> Iterator[World]:
    clock = FakeClock()
    with Engine(db_url, clock=clock) as engine:
        yield World(engine, clock, smtp)
