"""Checking an event at the boundary (HTTP, the Engine's methods) before it joins a batch;
storing it is ``store.events``. The API takes ``EventIn`` and ``EventOutcome`` from here."""

from __future__ import annotations

from flowpin.engine import inputs
from flowpin.errors import FlowpinError
from flowpin.store.events import EventIn
from flowpin.store.waits import EventOutcome

__all__ = ["TTL_MS_MAX", "EventIn", "EventOutcome", "check_event"]

TTL_MS_MAX = 366 * 24 * 3600 * 1000
"""An event is buffered for waits that register later for at most a year (``time.wait`` is
bounded the same way, SPEC §2)."""


def check_event(item: EventIn) -> EventIn:
    """Refuse an event that cannot be stored, before it joins a batch (a group commit shares
    its transaction, and its failure, with other callers' events)."""
    inputs.check_text(item.name, "name", inputs.EVENT_NAME_MAX)
    if not item.name:
        raise FlowpinError("an event needs a name", code="event.invalid")
    inputs.check_text(item.key, "key", inputs.EVENT_KEY_MAX)
    inputs.check_text(item.event_id, "eventId", inputs.EVENT_ID_MAX)
    inputs.check_value(item.payload, "payload")
    if item.ttl_ms is not None and not 0 <= item.ttl_ms <= TTL_MS_MAX:
        raise FlowpinError(
            f"ttlMs of event {item.name!r} must be between 0 and {TTL_MS_MAX} (a year)",
            code="event.invalid",
        )
    return item
