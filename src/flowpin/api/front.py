"""The front door of the lean routes: a plain request to one of them is answered before
FastAPI's routing.

A lean route (``api.lean``) already answers the plain form of its request without FastAPI's
dependency solving; what was left around it, per request, was FastAPI's routing (every route of
every included router tried in order, twice), its exception and exit-stack middleware and the
route's request wrapper: ~90 of the ~260 µs a ``GET /api/runs/{id}`` took in process (fastapi
0.165, measured), more than the read itself. ``LeanFront`` sits inside flowpin's own middleware
(the body limit and the last-resort answer apply as before) and sends a request that matches a
lean route's method and path straight to the route's ``lean`` function:

- an error it raises is answered by the app's own exception handler for it, as the routed
  request's would be;
- a request it does not take plainly (``lean`` returns None) goes on to the app, its body
  replayed, and is routed and answered as before;
- a path that another route of the same method also matches (``GET /api/runs/counts`` against
  ``/api/runs/{run_id}``) always goes to the app, which decides as it always did;
- while traces are recorded, every request goes to the app: the routed request's span is named
  by its route.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowpin.api.lean import Lean
from flowpin.observability import tracing

log = logging.getLogger("flowpin.api")


@dataclass(frozen=True, slots=True)
class Door:
    """A lean route as the front door knows it: its method, its path (a FastAPI path
    template, ``/api/runs/{run_id}``) and the function that answers its plain requests."""

    method: str
    path: str
    lean: Lean


class LeanFront:
    def __init__(self, app: ASGIApp, doors: list[Door]) -> None:
        self.app = app
        self._doors = [(door, compile_path(door.path)) for door in doors]
        self._shared: dict[str, frozenset[str]] | None = None
        """Per method: the app's literal paths that a door's path also matches (learnt from the
        app's OpenAPI document at the first request, when every route is declared)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self._door(scope)
        if found is None or tracing.tracer() is not None:
            await self.app(scope, receive, send)
            return
        door, params = found
        scope = {**scope, "path_params": params}
        request = Request(scope, receive)
        try:
            response = await door.lean(request)
        except Exception as exc:
            response = await self._answer_error(scope["app"], request, exc)
        if response is None:
            await self.app(scope, _replay(request, receive), send)
            return
        await response(scope, receive, send)

    def _door(self, scope: Scope) -> tuple[Door, dict[str, Any]] | None:
        method, path = scope["method"], scope["path"]
        for door, (regex, _format, convertors) in self._doors:
            if door.method != method:
                continue
            match = regex.match(path)
            if match is None:
                continue
            shared = self._shared_paths(scope["app"])
            if not self._doors or path in shared.get(method, ()):
                return None
            return door, {
                name: convertors[name].convert(value) for name, value in match.groupdict().items()
            }
        return None

    def _shared_paths(self, app: FastAPI) -> dict[str, frozenset[str]]:
        if self._shared is None:
            try:
                document = app.openapi()
            except Exception:  # a route the schema cannot describe: route everything
                log.exception("no OpenAPI document: every request is routed by FastAPI")
                self._doors = []
                self._shared = {}
                return self._shared
            shared: dict[str, set[str]] = {}
            for path, operations in document.get("paths", {}).items():
                for door, (regex, _format, _convertors) in self._doors:
                    if path != door.path and regex.match(path):
                        for method in operations:
                            shared.setdefault(method.upper(), set()).add(path)
            self._shared = {method: frozenset(paths) for method, paths in shared.items()}
        return self._shared

    @staticmethod
    async def _answer_error(app: FastAPI, request: Request, exc: Exception) -> Response:
        """The app's own answer to ``exc`` (its exception handler for the nearest class), as
        FastAPI's exception middleware gives it; without one, ``exc`` goes on up."""
        for cls in type(exc).__mro__:
            handler = app.exception_handlers.get(cls)
            if handler is not None:
                answer = handler(request, exc)
                if isinstance(answer, Awaitable):
                    answer = await answer
                return answer  # type: ignore[no-any-return]
        raise exc


def lean_doors(prefix: str, routers: list[APIRouter]) -> list[Door]:
    """A door for each method of each lean route (``api.lean.lean_route``) of ``routers``,
    included in the app under ``prefix``."""
    doors: list[Door] = []
    for router in routers:
        for route in router.routes:
            lean = getattr(type(route), "answer_plainly", None)
            if isinstance(route, APIRoute) and lean is not None:
                path = prefix + route.path
                doors += [Door(method, path, lean) for method in sorted(route.methods)]
    return doors


def _replay(request: Request, receive: Receive) -> Receive:
    """``receive`` for the app after ``lean`` read the body: the body once, then ``receive``
    itself (a client that disconnects is heard as before)."""
    body: bytes | None = getattr(request, "_body", None)
    if body is None:
        return receive
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
