"""Actions used by the engine tests. Side effects are recorded in a list keyed by idempotency
key, as a real downstream service that honours idempotency keys would."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from flowpin.registry.actions import ActionContext, ActionError, RetryAfter, action

CALLS: list[dict[str, Any]] = []
FLAKY: dict[str, int] = {}


class Echo(BaseModel):
    text: str


class Echoed(BaseModel):
    text: str
    attempt: int


class Ticket(BaseModel):
    subject: str
    priority: str = "normal"


class TicketId(BaseModel):
    ticketId: str


class Flaky(BaseModel):
    key: str
    failures: int = 1
    mode: str = "retryable"  # retryable | fatal | retry_after


class Empty(BaseModel):
    pass


@action("test.echo", version=1, effect="none")
def echo(data: Echo, ctx: ActionContext) -> Echoed:
    CALLS.append({"action": "echo", "key": ctx.idempotency_key, "text": data.text})
    return Echoed(text=data.text.upper(), attempt=ctx.attempt)


@action("test.echo_async", version=1, effect="none")
async def echo_async(data: Echo, ctx: ActionContext) -> Echoed:
    await asyncio.sleep(0)  # the point: an async handler that yields to the event loop
    return Echoed(text=data.text[::-1], attempt=ctx.attempt)


@action("crm.create_ticket", version=1, effect="side_effect")
def create_ticket(data: Ticket, ctx: ActionContext) -> TicketId:
    CALLS.append({"action": "create_ticket", "key": ctx.idempotency_key, "subject": data.subject})
    return TicketId(ticketId=f"T-{len(CALLS)}")


@action("test.flaky", version=1, effect="idempotent")
def flaky(data: Flaky, ctx: ActionContext) -> Empty:
    seen = FLAKY.get(data.key, 0)
    FLAKY[data.key] = seen + 1
    if seen < data.failures:
        if data.mode == "fatal":
            raise ActionError("permanent failure", retryable=False)
        if data.mode == "retry_after":
            raise RetryAfter(7)
        raise ActionError(f"temporary failure {seen + 1}", retryable=True)
    return Empty()


class Size(BaseModel):
    bytes: int


class Blob(BaseModel):
    data: str


@action("test.blob", version=1, effect="none")
def blob(data: Size) -> Blob:
    return Blob(data="x" * data.bytes)
