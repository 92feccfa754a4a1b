"""Receiving a message: keep its bytes in ``helpdesk_inbound``, then submit ``email.received``
with a reference to them (the claim-check pattern).

The event carries ``{"ref", "size", "messageId", "thread", "from", "to", "subject"}``: the
sha256 of the bytes, the thread's root Message-ID (``thread_root``) and a few headers for people
reading the run. ``thread`` is the workflow's concurrency key: the messages of one thread are
processed one at a time, in the order they arrived, so a reply received while its original is
still being processed waits for the original's ticket instead of becoming a second one. The
actions load the message by ``ref``, so neither the event, the run payload nor the step history
holds it, and its size is not bounded by flowpin's expression (256 KiB) or run input (512 KiB)
limits.

The event's key and ``eventId`` are the Message-ID (or ``sha256:<ref>`` when it has none, or one
longer than an event id may be), so the same message received twice is one event.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesHeaderParser
from typing import Any

from examples.helpdesk.mail import MESSAGE_ID, header_text
from examples.helpdesk.store import HelpdeskStore

EVENT_NAME = "email.received"
MAX_EVENT_ID = 200
"""The API's limit on ``eventId`` (longer Message-IDs fall back to the hash)."""


def email_event(ref: str, data: bytes) -> dict[str, Any]:
    """The event (``name``, ``key``, ``eventId``, ``payload``) for a message stored as ``ref``."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(data)
    message_id = _header(headers, "Message-ID")
    key = message_id if message_id and len(message_id) <= MAX_EVENT_ID else f"sha256:{ref}"
    payload = {
        "ref": ref,
        "size": len(data),
        "messageId": message_id,
        "thread": thread_root(headers, ref),
        "from": header_text(headers, "From"),
        "to": _header(headers, "To"),
        "subject": header_text(headers, "Subject"),
    }
    return {"name": EVENT_NAME, "key": key, "eventId": key, "payload": payload}


def thread_root(headers: Any, ref: str) -> str:
    """The first Message-ID of ``References`` (the thread's first message), else of
    ``In-Reply-To``, else the message's own, else ``sha256:<ref>`` (a message without one is
    its own thread)."""
    for name in ("References", "In-Reply-To", "Message-ID"):
        found = MESSAGE_ID.findall(_header(headers, name) or "")
        if found:
            return str(found[0])
    return f"sha256:{ref}"


def receive(engine: Any, store: HelpdeskStore, data: bytes) -> dict[str, Any]:
    """Store the message for the engine's tenant, then submit its event. Returns ``ref``,
    ``key``, ``eventId``, ``stored`` (new bytes) and the event outcome (``started``,
    ``resumed``, ``duplicate``, …)."""
    ref, stored = store.put_inbound(engine.tenant, data)
    event = email_event(ref, data)
    outcome = engine.send_event(
        event["name"], event["key"], event["payload"], event_id=event["eventId"]
    )
    return {"ref": ref, "key": event["key"], "stored": stored, **outcome.to_dict()}


def _header(headers: Any, name: str) -> str | None:
    try:
        value = headers.get(name)
    except Exception:  # a header the parser chokes on is left out, not fatal
        return None
    text = str(value).strip() if value is not None else ""
    return text or None


__all__ = ["EVENT_NAME", "email_event", "receive", "thread_root"]
