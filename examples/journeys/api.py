"""The contacts API the email-marketing product would have, under ``/examples/journeys``.

    POST  /examples/journeys/contacts                    {"email", "data"?, "subscribed"?, "id"?}
    GET   /examples/journeys/contacts?email=…            newest last, at most ``limit``
    GET   /examples/journeys/contacts/{id}
    PATCH /examples/journeys/contacts/{id}               {"data"? (merged), "email"?, "subscribed"?}
    POST  /examples/journeys/contacts/{id}/unsubscribe
    POST  /examples/journeys/contacts/{id}/track          {"event", "data"?, "eventId"?}

Same API keys as ``/api`` (reads: viewer; writes: editor); a key sees its tenant's contacts only.
What contacts *do* (sign up, open an email) becomes a flowpin event with the contact id as the
event key, which is the subject of the contact's journey runs: through ``.../track``, which keeps
the event for the journey's window (``tracking.py``: an open during the welcome delay still
counts), or straight through flowpin's ``POST /api/events``.
"""

from __future__ import annotations

from typing import Any

from examples.journeys.contacts import ContactStore
from examples.journeys.tracking import track
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from flowpin.api.auth import Editor, Viewer

EMAIL = r"^[^@\s]+@[^@\s]+$"


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(pattern=EMAIL, max_length=320)
    data: dict[str, Any] = Field(default_factory=dict)
    subscribed: bool = True
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class TrackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: str = Field(min_length=1, max_length=200, examples=["email.opened"])
    data: dict[str, Any] = Field(default_factory=dict, description="The event's payload.")
    eventId: str | None = Field(None, min_length=1, max_length=200)


class ContactPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, pattern=EMAIL, max_length=320)
    data: dict[str, Any] | None = Field(None, description="Merged; a null value removes a key.")
    subscribed: bool | None = None


def contacts_router(store: ContactStore) -> APIRouter:
    router = APIRouter(prefix="/examples/journeys", tags=["examples: journeys"])

    @router.post("/contacts", status_code=201)
    def create_contact(who: Editor, body: ContactCreate) -> dict[str, Any]:
        contact = store.create(
            who.tenant, body.email, data=body.data, subscribed=body.subscribed, contact_id=body.id
        )
        return contact.to_json()

    @router.get("/contacts")
    def list_contacts(who: Viewer, email: str | None = None, limit: int = 100) -> dict[str, Any]:
        found = store.list_contacts(who.tenant, email=email, limit=limit)
        return {"items": [contact.to_json() for contact in found]}

    @router.get("/contacts/{contact_id}")
    def get_contact(who: Viewer, contact_id: str) -> dict[str, Any]:
        return store.get(who.tenant, contact_id).to_json()

    @router.patch("/contacts/{contact_id}")
    def update_contact(who: Editor, contact_id: str, body: ContactPatch) -> dict[str, Any]:
        contact = store.update(
            who.tenant,
            contact_id,
            data=body.data,
            email=body.email,
            subscribed=body.subscribed,
        )
        return contact.to_json()

    @router.post("/contacts/{contact_id}/unsubscribe")
    def unsubscribe(who: Editor, contact_id: str) -> dict[str, Any]:
        return store.update(who.tenant, contact_id, subscribed=False).to_json()

    @router.post("/contacts/{contact_id}/track", status_code=202)
    def track_contact(
        who: Editor, contact_id: str, body: TrackBody, request: Request
    ) -> dict[str, Any]:
        store.get(who.tenant, contact_id)  # 404 for a contact this tenant does not have
        limiter = request.app.state.event_limiter
        if limiter is not None:
            limiter.take(who.tenant)
        outcome = track(who.engine, contact_id, body.event, body.data, event_id=body.eventId)
        return outcome.to_dict()

    return router
