"""Drives the helpdesk example the way production does: a real ``.eml`` file is received as
``flowpin ingest-eml`` and the inbound route receive one (bytes stored, ``email.received`` with
their reference), the worker runs the workflow, the test reads the tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from examples.helpdesk.inbound import receive

from examples.helpdesk import HelpdeskSettings, HelpdeskStore, install
from examples.helpdesk import store as tables
from flowpin.engine import Engine

MESSAGES = Path(__file__).resolve().parent / "messages"
KNOWN_TOKEN = "HD-7K2M9Q4X1B"
"""The token the reply messages carry; tests give it to the ticket they answer."""


def message(name: str) -> bytes:
    return (MESSAGES / name).read_bytes()


@dataclass
class Helpdesk:
    engine: Engine
    store: HelpdeskStore
    attachments_dir: Path

    @classmethod
    def open(cls, url: str, attachments_dir: Path, *, seed_defaults: bool = True) -> Helpdesk:
        engine = Engine(url)
        settings = HelpdeskSettings(attachments_dir=attachments_dir, seed_defaults=seed_defaults)
        install(engine, settings)
        return cls(engine, HelpdeskStore(engine.db, engine.clock), attachments_dir)

    def close(self) -> None:
        self.engine.close()

    def deliver(self, name: str) -> dict[str, Any]:
        """Receive the message of ``messages/`` and work until idle; the run it started."""
        return self.deliver_bytes(message(name))

    def deliver_bytes(self, data: bytes) -> dict[str, Any]:
        received = receive(self.engine, self.store, data)
        self.engine.run_worker(until_idle=True)
        assert len(received["started"]) == 1, received
        return self.engine.get_run(received["started"][0], history=True)

    def tickets(self) -> list[dict[str, Any]]:
        return self.store.list_tickets("default")

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        found = self.store.ticket_view("default", ticket_id)
        assert found is not None
        return found

    def give_token(self, ticket_id: str, token: str = KNOWN_TOKEN) -> None:
        """Tokens are random; the reply files quote a fixed one."""
        with self.engine.db.write() as conn:
            conn.execute(
                sa.update(tables.tickets)
                .where(tables.tickets.c.id == ticket_id)
                .values(reply_token=token)
            )


def states(run: dict[str, Any]) -> list[str]:
    """The ``meta.state`` values the run went through, in order (its state.set steps)."""
    return [step["output"] for step in run["history"] if step["type"] == "state.set"]
