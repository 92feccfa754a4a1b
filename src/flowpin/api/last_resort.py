"""The last resort: an exception no handler turned into an answer becomes a JSON 500 in the
error shape (``internal.error``), logged with an incident id that the answer repeats.

Such an exception is a defect. Without this middleware the client got Starlette's plain-text
"Internal Server Error", and behind uvicorn a reset keep-alive connection, because Starlette's
``ServerErrorMiddleware`` re-raises after answering and uvicorn then closes the transport. Here
the exception ends with the log record; the connection stays usable.
"""

from __future__ import annotations

import logging
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowpin.api.errors import error_body, send_error
from flowpin.engine.outages import database_unreachable

log = logging.getLogger("flowpin.api")


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if database_unreachable(exc) and not started:
                # No defect: the database went away (a restart) while answering; the client may
                # try again (a start lost at its very COMMIT may have been written: an
                # idempotency key makes trying it again safe).
                log.warning(
                    "database unavailable answering %s %s: %s",
                    scope.get("method"),
                    scope.get("path"),
                    getattr(exc, "orig", exc),
                )
                await _unavailable(send)
                return
            incident = uuid.uuid4().hex[:16]
            log.exception(
                "unexpected error answering %s %s (incident %s)",
                scope.get("method"),
                scope.get("path"),
                incident,
            )
            if started:  # part of an answer is out: nothing coherent can follow it
                raise
            await _answer(send, incident)


async def _answer(send: Send, incident: str) -> None:
    message = (
        f"the server failed to answer this request (incident {incident}); "
        "this is a flowpin defect: please report it with the incident id"
    )
    await send_error(send, 500, error_body("internal.error", message, {"incident": incident}))


async def _unavailable(send: Send) -> None:
    message = "the database could not be reached; try again shortly"
    body = error_body("database.unavailable", message)
    await send_error(send, 503, body, ((b"retry-after", b"1"),))
