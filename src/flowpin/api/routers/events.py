"""Events: submit (resumes waiting runs, starts triggered ones), list and get one.

A listed event's payload is masked by the key patterns and by the redaction pointers of every
run it resumed, started or came from (the values those runs mask are masked here too)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from flowpin.api.answers import JsonAnswer
from flowpin.api.auth import EDITOR, Caller, Editor, Viewer
from flowpin.api.errors import error_body, status_for
from flowpin.api.lean import json_request, lean_route
from flowpin.api.schemas import EventBatch, EventBody, PageLimit
from flowpin.engine.event_listing import touched_runs
from flowpin.engine.triggers import EventIn, EventOutcome, check_event
from flowpin.errors import FlowpinError

router = APIRouter(prefix="/events", tags=["events"])


async def submit(who: Editor, body: EventBody, request: Request) -> Response:
    """Concurrent events share one commit (``api.batches``); answered once it is committed."""
    return await _accept(request, who, body)


async def _plain_submit(request: Request) -> Response | None:
    """``POST /api/events`` with a plain JSON body, as ``submit`` answers it, without
    FastAPI's dependency solving (``api.lean``)."""
    taken = await json_request(request, EDITOR, EventBody)
    return None if taken is None else await _accept(request, *taken)


async def _accept(request: Request, who: Caller, body: EventBody) -> Response:
    limiter = request.app.state.event_limiter
    if limiter is not None:
        limiter.take(who.tenant)
    item = check_event(EventIn(body.name, body.key, body.payload, body.eventId, body.ttlMs))
    outcome = await request.app.state.events.submit(who.engine, item)
    return JsonAnswer(outcome.to_dict(), status_code=202)


router.add_api_route(
    "",
    submit,
    methods=["POST"],
    status_code=202,
    route_class_override=lean_route(_plain_submit),
)


@router.post("/batch")
def submit_batch(who: Editor, body: EventBatch, request: Request) -> dict[str, Any]:
    """Each event checked as ``POST /api/events`` checks it; all written in one transaction.
    The tenant's events-per-second limit counts every item."""
    limiter = request.app.state.event_limiter
    if limiter is not None:
        limiter.take(who.tenant, cost=len(body.items))
    items = [EventIn(i.name, i.key, i.payload, i.eventId, i.ttlMs) for i in body.items]
    outcomes = who.engine.send_events_each(items)
    return {"items": [_batch_item(outcome) for outcome in outcomes]}


def _batch_item(outcome: EventOutcome | FlowpinError) -> dict[str, Any]:
    if isinstance(outcome, FlowpinError):
        return {
            "status": status_for(outcome),
            **error_body(outcome.code, outcome.message, outcome.details),
        }
    return {"status": 202, "event": outcome.to_dict()}


@router.get("")
def list_events(
    who: Viewer,
    request: Request,
    name: str | None = None,
    key: str | None = None,
    outcome: str | None = Query(
        None, description="'matched' (reached a run) or 'unmatched' (reached none)."
    ),
    receivedAfter: str | None = Query(None, description="ISO time, inclusive."),
    receivedBefore: str | None = Query(None, description="ISO time, exclusive."),
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    page = who.engine.list_events(
        name=name,
        key=key,
        outcome=outcome,
        received_after=receivedAfter,
        received_before=receivedBefore,
        limit=limit,
        cursor=cursor,
    )
    page["items"] = _masked(request, who, page["items"])
    return page


@router.get("/{event_id}")
def get_event(who: Viewer, event_id: str, request: Request) -> dict[str, Any]:
    """One event (its id, or the ``eventId`` it was sent with) and the runs it touched."""
    return _masked(request, who, [who.engine.get_event(event_id)])[0]


def _masked(request: Request, who: Caller, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    touched = {item["id"]: touched_runs(item) for item in items}
    masks = who.engine.masks_for_runs([run_id for ids in touched.values() for run_id in ids])
    redact = request.app.state.redact
    return [
        redact.event(item, [masks[r] for r in touched[item["id"]] if r in masks]) for item in items
    ]
