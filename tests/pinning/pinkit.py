"""What the pinning tests share: the SMTP sink's state, the ``World`` a scenario runs in and
the deliberately broken resolvers that prove the tests bite."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import message_from_bytes, policy
from typing import Any

import sqlalchemy as sa

from flowpin.clock import FakeClock
from flowpin.definitions.models import Definition
from flowpin.engine import Engine
from flowpin.store import tables as t


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[Any] = field(default_factory=list)

    def config(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "security": "none", "timeoutMs": 5000}


class SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content.replace(b"\r\n", b"\n")
        self.sink.messages.append(message_from_bytes(content, policy=policy.default))
        return "250 Message accepted for delivery"


@dataclass
class World:
    engine: Engine
    clock: FakeClock
    smtp: SmtpSink


def read_latest(engine: Engine) -> None:
    """Break pinning on purpose: every run is driven by its workflow's latest version."""
    pinned = engine.deps.definitions.definition_in

    def latest(conn: sa.Connection, version_id: int) -> Definition:
        versions = t.workflow_versions
        workflow_id = sa.select(versions.c.workflow_id).where(versions.c.id == version_id)
        newest = conn.execute(
            sa.select(versions.c.id)
            .where(versions.c.workflow_id == workflow_id.scalar_subquery())
            .order_by(versions.c.number.desc())
            .limit(1)
        ).scalar_one()
        return pinned(conn, newest)

    engine.deps.definitions.definition_in = latest  # type: ignore[method-assign]


def read_draft(engine: Engine) -> None:
    """Break pinning on purpose: every run is driven by its workflow's draft."""

    def draft(conn: sa.Connection, version_id: int) -> Definition:
        versions = t.workflow_versions
        document = conn.execute(
            sa.select(t.workflows.c.draft)
            .join(versions, versions.c.workflow_id == t.workflows.c.id)
            .where(versions.c.id == version_id)
        ).scalar_one()
        return Definition.model_validate(document)

    engine.deps.definitions.definition_in = draft  # type: ignore[method-assign]


RESOLVERS = {"latest": read_latest, "draft": read_draft}
