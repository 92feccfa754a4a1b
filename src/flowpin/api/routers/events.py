"""Events: submit (resumes waiting runs, starts triggered ones) and list.

A listed event's payload is masked by the key patterns and by the redaction pointers of every
run it resumed, started or came from (the values those runs mask are masked here too)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flowpin.api.auth import Editor, Viewer
from flowpin.api.schemas import EventBody, PageLimit

router = APIRouter(prefix="/events", tags=["events"])


@router.post("", status_code=202)
def submit(who: Editor, body: EventBody, request: Request) -> dict[str, Any]:
    limiter = request.app.state.event_limiter
    if limiter is not None:
        limiter.take(who.tenant)
    outcome = who.engine.send_event(
        body.name, body.key, body.payload, event_id=body.eventId, ttl_ms=body.ttlMs
    )
    return outcome.to_dict()


@router.get("")
def list_events(
    who: Viewer,
    request: Request,
    name: str | None = None,
    key: str | None = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    page = who.engine.list_events(name=name, key=key, limit=limit, cursor=cursor)
    runs = who.engine.event_runs([item["id"] for item in page["items"]])
    masks = who.engine.core.masks_for_runs(
        who.tenant, [run_id for ids in runs.values() for run_id in ids]
    )
    redact = request.app.state.redact
    page["items"] = [
        redact.event(item, [masks[r] for r in runs.get(item["id"], ()) if r in masks])
        for item in page["items"]
    ]
    return page
