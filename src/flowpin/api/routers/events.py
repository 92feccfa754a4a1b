"""Events: submit (resumes waiting runs, starts triggered ones) and list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flowpin.api.auth import Editor, Viewer
from flowpin.api.schemas import EventBody

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
    name: str | None = None,
    key: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    return who.engine.list_events(name=name, key=key, limit=limit, cursor=cursor)
