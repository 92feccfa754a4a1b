"""``create_app(engine)``: the FastAPI application (routes under ``/api``, OpenAPI at
``/docs`` and ``/openapi.json``).

    app = create_app(Engine("sqlite:///flowpin.db"))      # the caller owns (and closes) it
    app = create_app(lambda: Engine(url))                 # created at startup, closed at shutdown

Requests authenticate with ``Authorization: Bearer <key>``; each is served by the engine's view
of the key's tenant, so no handler can see another tenant's rows.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowpin import __version__
from flowpin.api import batches, errors, openapi
from flowpin.api.auth import KeyCache, RateLimiter
from flowpin.api.front import LeanFront, lean_doors
from flowpin.api.last_resort import LastResort
from flowpin.api.routers import (
    events,
    keys,
    me,
    registry,
    runs,
    secrets,
    tasks,
    trial,
    workflows,
)
from flowpin.api.schemas import plain_url
from flowpin.security.redaction import DEFAULT_KEYS, Redactor

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.limit:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        message = f"request body is larger than {self.limit} bytes"
        body = errors.error_body("request.too_large", message, {"limit": self.limit})
        await errors.send_error(send, 413, body)


def create_app(
    engine: Any,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    key_cache_seconds: float = 30.0,
    redact_keys: str | None = DEFAULT_KEYS,
    events_per_second: float | None = None,
) -> FastAPI:
    """The API over ``engine`` (an Engine, or a callable returning one at startup).

    ``redact_keys``: a regex; values under matching object keys are returned as
    ``"[redacted]"`` in run states, outputs and step history (None: no redaction). The
    redaction pointers of the engine and of each run's workflow (``settings.redact``) apply
    to every returned run as well.
    ``key_cache_seconds``: how long a resolved API key is trusted without a lookup; a key
    revoked by another process is refused here after at most this long (0: never cached).
    ``events_per_second``: per-tenant limit on ``POST /api/events`` (429 beyond it)."""
    factory: Callable[[], Any] | None = engine if callable(engine) else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if factory is not None:
            app.state.engine = factory()
        try:
            yield
        finally:
            if factory is not None:
                app.state.engine.close()

    # Swagger UI (/docs) and ReDoc (/redoc) load their assets from flowpin, not a CDN.
    app = FastAPIOffline(
        title="flowpin",
        summary="Durable, data-defined workflows: definitions, runs, events, tasks.",
        description="Authenticate with `Authorization: Bearer <key>` (`flowpin keys create`). "
        'Every error is `{"error": {"code", "message", "details"}}` '
        "(docs/errors.md lists the codes).",
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url="/redoc",
        openapi_url="/openapi.json",
        dependencies=[Depends(plain_url)],
        generate_unique_id_function=openapi.operation_id,
    )
    openapi.install(app)
    if factory is None:
        app.state.engine = engine
    app.state.key_cache = KeyCache(ttl=key_cache_seconds)
    app.state.redact = Redactor(redact_keys)
    app.state.event_limiter = RateLimiter(events_per_second) if events_per_second else None
    app.state.starts = batches.starts()
    app.state.events = batches.events()
    errors.install(app)
    # The hot routes first: FastAPI tries an app's routes in order, every request.
    modules = (runs, events, workflows, trial, tasks, registry, secrets, keys, me)
    for module in modules:
        app.include_router(module.router, prefix="/api")

    @app.get("/api/health", tags=["meta"])
    def health() -> dict[str, Any]:
        """Liveness: answers without a key while the process serves, with its process id
        (``serve --workers N`` runs N of them)."""
        return {"status": "ok", "pid": os.getpid()}

    doors = lean_doors("/api", [module.router for module in modules])
    app.add_middleware(LeanFront, doors=doors)  # innermost of ours: inside the body limit
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(LastResort)  # outermost of ours: it also answers for BodyLimit
    return app
