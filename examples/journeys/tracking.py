"""Tracking what contacts do: each action becomes a flowpin event keyed by the contact id (the
subject of the contact's journey runs), held for the journey's window.

A journey waits for an event only once it reaches its wait: an ``email.opened`` reported while
the welcome series is still in its 2-day delay would find nothing waiting and be lost. Tracked
events are therefore sent with ``ttlMs`` = ``TRACK_TTL_MS``, the welcome series' whole window
(2-day delay + 3 days waiting for the open): the wait takes an open reported during the delay
when it starts. The journey's wait accepts only events received after its run started, so an
open from an earlier journey of the same contact never counts for a new one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flowpin.store.waits import EventOutcome

TRACK_TTL_MS = int(timedelta(days=5) / timedelta(milliseconds=1))
"""How long a tracked event stays available to a wait that starts later (keep it at least the
longest window of the journeys in ``workflows/``)."""


def track(
    engine: Any,
    contact_id: str,
    event: str,
    data: dict[str, Any] | None = None,
    *,
    event_id: str | None = None,
) -> EventOutcome:
    """Report that the contact did ``event`` (``email.opened``, ``contact.signed_up`` …):
    resumes the journeys waiting for it, starts those it triggers, and is kept for the ones that
    will wait for it within ``TRACK_TTL_MS``."""
    return engine.send_event(  # type: ignore[no-any-return]
        event, contact_id, data or {}, event_id=event_id, ttl_ms=TRACK_TTL_MS
    )
