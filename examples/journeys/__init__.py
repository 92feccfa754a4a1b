"""Contact journeys of an email-marketing product, on flowpin (the Plunk seed, as data).

Contacts live in the example's own table (``contacts.py``) in flowpin's database; the product's
contacts API is mounted under ``/examples/journeys`` (``api.py``); what contacts do is sent to
``POST /api/events`` with the contact id as the key. Journeys are JSON in ``workflows/``
(``welcome-series.json``: welcome email, a 2-day delay, wait up to 3 days for ``email.opened``,
follow-up or exit, a switch on the plan, a webhook to the application, contact updates), over
three actions (``actions.py``). SMTP and webhook settings come from the environment
(``settings.py``), never from the published JSON.

``flowpin serve --examples`` calls ``install`` and ``mount``; in Python::

    engine = Engine(url)
    install(engine)                     # or install(engine, JourneySettings(smtp_port=2525))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from examples.journeys.actions import DECLARATIONS, JourneyActions
from examples.journeys.contacts import ContactStore
from examples.journeys.settings import JourneySettings

from examples import binding

__all__ = ["WORKFLOWS", "JourneySettings", "install", "mount"]

WORKFLOWS = Path(__file__).parent / "workflows"


def install(engine: Any, settings: JourneySettings | None = None) -> None:
    """Create the contacts table, register the actions, publish the journeys. Idempotent:
    publishing an unchanged journey returns its existing version."""
    store = ContactStore(engine.db, engine.clock)
    store.create_table()
    bound = JourneyActions(store, settings or JourneySettings.from_env())
    binding.install(engine, "journeys", bound.specs(), DECLARATIONS)


def mount(app: Any, engine: Any) -> None:
    """Add the contacts API (``/examples/journeys/contacts``) to flowpin's FastAPI app."""
    from examples.journeys.api import contacts_router

    app.include_router(contacts_router(ContactStore(engine.db, engine.clock)))
