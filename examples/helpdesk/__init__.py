"""A helpdesk whose inbound email becomes tickets, on flowpin (the helpdesk seed, as data).

The helpdesk keeps its own tables in flowpin's database (``store.py``: contacts, clients by
email domain, tickets with a reply token, comments, attachments on disk, ticket defaults, and the
raw inbound messages). A message received (``POST /examples/helpdesk/inbound``, or ``flowpin
ingest-eml FILE``) is stored by the sha256 of its bytes, then the event ``email.received``
carries that reference, not the message (``inbound.py``: the claim check). The workflow
``email-to-ticket`` (``workflows/``) starts on it and calls the actions of ``actions.py``, which
load the message by reference. ``api.py`` mounts the inbound route and a JSON view of the
tickets under ``/examples/helpdesk``. Settings come from the environment (``settings.py``).

Where a run is: ``meta.state`` (``state.set`` steps whose ids are the state names in kebab case:
PROCESSING_INBOUND_EMAIL, CHECKING_EMAIL_THREADING, MATCHING_EMAIL_CLIENT,
RESOLVING_TICKET_DEFAULTS, CREATING_TICKET, PROCESSING_ATTACHMENTS, EMAIL_PROCESSED; on failure
ERROR_NO_TICKET_DEFAULTS or ERROR_PROCESSING_EMAIL, then AWAITING_MANUAL_RESOLUTION, a human task
whose answer ends in EMAIL_PROCESSED or EMAIL_DISCARDED; an answer that cannot be applied, such
as a ticket that does not exist, goes back to AWAITING_MANUAL_RESOLUTION with a new task that
says why, up to 10 times). The run's history lists them in order.

Size: flowpin's limits (256 KiB per expression result, 512 KiB per run input) never see the
message, only its reference; over HTTP the API's body limit applies (``flowpin serve
--max-body-bytes``, 1 MiB by default).

``flowpin serve --examples`` calls ``install`` and ``mount``; in Python::

    engine = Engine(url)
    install(engine)          # or install(engine, HelpdeskSettings(attachments_dir=Path(...)))
    receive(engine, HelpdeskStore(engine.db, engine.clock), eml_bytes)   # inbound.receive
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from examples.helpdesk.actions import DECLARATIONS, HelpdeskActions
from examples.helpdesk.settings import HelpdeskSettings
from examples.helpdesk.store import HelpdeskStore

from examples import binding

__all__ = ["MESSAGES", "WORKFLOWS", "HelpdeskSettings", "HelpdeskStore", "install", "mount"]

WORKFLOWS = Path(__file__).parent / "workflows"
MESSAGES = Path(__file__).parent / "messages"


def install(engine: Any, settings: HelpdeskSettings | None = None) -> None:
    """Create the tables, seed catch-all ticket defaults for the engine's tenant when it has
    none (unless told not to), register the actions, publish the workflow. Idempotent."""
    settings = settings or HelpdeskSettings.from_env()
    store = HelpdeskStore(engine.db, engine.clock)
    store.create_tables()
    if settings.seed_defaults:
        store.set_defaults(engine.tenant, only_if_none=True)
    binding.install(engine, "helpdesk", HelpdeskActions(store, settings).specs(), DECLARATIONS)


def mount(app: Any, engine: Any) -> None:
    """Add the inbound route and the ticket view (``/examples/helpdesk/…``) to flowpin's app."""
    from examples.helpdesk.api import tickets_router

    app.include_router(tickets_router(HelpdeskStore(engine.db, engine.clock)))
