"""The helpdesk's HTTP routes, under ``/examples/helpdesk``.

    POST /examples/helpdesk/inbound              a raw message in (editor role or above)
    GET  /examples/helpdesk/tickets?limit=100    newest first, with a comment count
    GET  /examples/helpdesk/tickets/{id}         the ticket, its contact, comments, attachments

Same API keys as ``/api`` (``Authorization: Bearer fp_…``); a key sees and feeds its tenant's
helpdesk only. ``inbound`` is what an inbound-mail webhook (or ``flowpin ingest-eml --api``)
calls: the body is the message itself (``Content-Type: message/rfc822``), stored in
``helpdesk_inbound``, then ``email.received`` is submitted with its reference; the answer is
202 ``{"ref", "eventId", "started", "resumed", "duplicate", "stored"}``. The body is bounded by
the API's body limit (``flowpin serve --max-body-bytes``, 1 MiB by default; larger: 413), and
counts against ``--events-per-second`` like ``POST /api/events`` (429).
"""

from __future__ import annotations

from typing import Any

from examples.helpdesk.inbound import receive
from examples.helpdesk.store import HelpdeskStore
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from flowpin.api.auth import Editor, Viewer
from flowpin.api.errors import ApiError
from flowpin.errors import NotFoundError

MESSAGE_TYPE = "message/rfc822"


class TicketNotFound(NotFoundError):
    code = "ticket.not_found"


def tickets_router(store: HelpdeskStore) -> APIRouter:
    router = APIRouter(prefix="/examples/helpdesk", tags=["examples: helpdesk"])

    @router.post("/inbound", status_code=202)
    async def inbound(who: Editor, request: Request) -> dict[str, Any]:
        limiter = request.app.state.event_limiter  # serve --events-per-second, as /api/events
        if limiter is not None:
            limiter.take(who.tenant)
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != MESSAGE_TYPE:
            raise HTTPException(415, f"the body must be the raw message, as {MESSAGE_TYPE}")
        data = await request.body()
        if not data.strip():
            raise ApiError("the message is empty", code="request.invalid")
        return await run_in_threadpool(receive, who.engine, store, data)

    @router.get("/tickets")
    def list_tickets(who: Viewer, limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        return {"items": store.list_tickets(who.tenant, limit=limit)}

    @router.get("/tickets/{ticket_id}")
    def get_ticket(who: Viewer, ticket_id: str) -> dict[str, Any]:
        found = store.ticket_view(who.tenant, ticket_id)
        if found is None:
            raise TicketNotFound(f"no ticket {ticket_id!r}", details={"id": ticket_id})
        return found

    return router
