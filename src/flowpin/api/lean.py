"""Lean routes: the hottest operations answered without FastAPI's per-request machinery.

For every request FastAPI solves the route's dependencies and walks each of its parameters
(query, header, cookie and path, at every level of dependency), whether or not the request has
any. For ``GET /api/runs/{run_id}`` that cost ~100 µs of the ~190 µs the whole request took in
process (fastapi 0.165, measured), more than reading the run. A lean route keeps the FastAPI
route as it is declared — path, parameters, security, OpenAPI entry, span name, body limit —
and changes only the handler FastAPI builds from it (``APIRoute.get_route_handler``, FastAPI's
extension point for this): a ``lean`` function answers the plain form of the request itself,
and anything it does not recognise (a query string, a body it cannot take as it is) goes to the
full handler, which answers it, errors included, exactly as before.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from flowpin.api.auth import Caller, Role

Model = TypeVar("Model", bound=BaseModel)

Lean = Callable[[Request], Awaitable[Response | None]]
"""Answers the request, or returns None to hand it to the route's full handler unchanged (it
must not have consumed anything the full handler needs but the cached body)."""


def lean_route(lean: Lean) -> type[APIRoute]:
    """A route class (``route_class_override``) whose requests ``lean`` answers first."""

    class LeanRoute(APIRoute):
        answer_plainly = staticmethod(lean)
        """The route's ``lean`` function (``api.front`` sends plain requests to it)."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            full = super().get_route_handler()

            async def handler(request: Request) -> Response:
                answer = await lean(request)
                return answer if answer is not None else await full(request)

            return handler

    LeanRoute.__name__ = LeanRoute.__qualname__ = f"LeanRoute[{lean.__name__}]"
    return LeanRoute


async def json_request(
    request: Request, role: Role, model: type[Model]
) -> tuple[Caller, Model] | None:
    """The caller and the JSON body as ``model``, checked in FastAPI's order (the body parsed,
    then the key, then the body validated), or None where FastAPI would not simply take them:
    a query string, a content type other than ``application/json``, an empty or malformed
    body, a body ``model`` refuses. The full handler then answers, with FastAPI's errors."""
    if request.scope["query_string"] or request.headers.get("content-type") != "application/json":
        return None
    raw = await request.body()  # cached on the request: the full handler reads it again
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    who = await role(request)
    try:
        return who, model.model_validate(data)
    except ValidationError:
        return None
