"""FlowpinError → HTTP, in one table, and the JSON error body ``{"error": {code, message,
details}}`` for every failure (including request validation and unknown routes).

Every code flowpin raises has a row in ``STATUS`` and an entry in docs/errors.md (what it means,
what to do); tests/api/test_error_codes.py fails when one is missing."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from flowpin.errors import (
    ConflictError,
    DefinitionError,
    FlowpinError,
    LimitError,
    NotFoundError,
)


class ApiError(FlowpinError):
    """An error raised by the HTTP layer itself (authentication, roles, body size)."""


# Exact codes first; a code not listed falls back to its class (the ``type`` rows).
STATUS: dict[str | type[FlowpinError], int] = {
    # 400: the request itself is malformed
    "flowpin.error": 400,
    "request.invalid": 400,
    "input.invalid_value": 400,
    "input.too_long": 400,
    "event.invalid": 400,
    "registry.invalid": 400,
    "request.bad_cursor": 400,
    "request.bad_time": 400,
    "request.bad_status": 400,
    "request.bad_outcome": 400,
    "workflow.bad_key": 400,
    "definition.not_json": 400,
    "expression.error": 400,
    "key.invalid_role": 400,
    "secret.bad_name": 400,
    "secrets.no_key": 409,
    "draft.bad_precondition": 400,
    "diff.bad_version": 400,
    "shadow.invalid": 400,
    "migration.invalid": 400,
    "migration.same_version": 400,
    "migration.bad_mapping": 400,
    "migration.bad_selection": 400,
    # 401 / 403
    "auth.missing": 401,
    "auth.invalid": 401,
    "auth.forbidden": 403,
    # 404 (also: another tenant's resource)
    "not_found": 404,
    "workflow.not_found": 404,
    "version.not_found": 404,
    "run.not_found": 404,
    "task.not_found": 404,
    "event.not_found": 404,
    "step.not_found": 404,
    "schema.not_found": 404,
    "secret.not_found": 404,
    "key.not_found": 404,
    "route.not_found": 404,
    # 405
    "route.method_not_allowed": 405,
    # 409: conflicts with the current state
    "conflict": 409,
    "workflow.exists": 409,
    "draft.conflict": 409,
    "draft.missing": 409,
    "workflow.has_active_runs": 409,
    "run.conflict": 409,
    "run.terminal": 409,
    "run.not_finished": 409,
    "run.nothing_to_retry": 409,
    "run.retry_inside_loop": 409,
    "runs.count_changed": 409,
    "task.not_open": 409,
    # 413 / 422 / 428 / 429
    "draft.precondition_required": 428,
    "request.too_large": 413,
    "limit.exceeded": 413,
    "limit.input_size": 413,
    "definition.invalid": 422,
    "run.invalid_payload": 422,
    "task.invalid_data": 422,
    "limit.rate": 429,
    # 500: a defect. Action errors end up in a run's error, never in an answer; the last resort
    # (api/last_resort.py) answers internal.error for any exception nothing else handled.
    "action.error": 500,
    "action.retry_after": 500,
    "action.unreachable": 500,
    "config.invalid": 500,  # the server's own configuration (an address allow list)
    "internal.error": 500,
    # fallbacks by class
    NotFoundError: 404,
    ConflictError: 409,
    DefinitionError: 422,
    LimitError: 413,
    FlowpinError: 400,
}


class ErrorResponse(JSONResponse):
    """An error body written with every non-ASCII character escaped: a message that quotes what
    the client sent (a key, an id) can never make the answer itself unwritable."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), default=str).encode("ascii")


def status_for(exc: FlowpinError) -> int:
    status = STATUS.get(exc.code)
    if status is not None:
        return status
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 400


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


async def send_error(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """An error answer (``error_body``) sent straight on an ASGI ``send``: for the middleware
    that answers before or around FastAPI (body limit, last resort)."""
    content = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def install(app: FastAPI) -> None:
    @app.exception_handler(FlowpinError)
    async def _flowpin(_request: Request, exc: FlowpinError) -> ErrorResponse:
        headers = {"WWW-Authenticate": "Bearer"} if status_for(exc) == 401 else None
        if exc.code == "limit.rate" and isinstance(exc.details, dict):
            wait = exc.details.get("retryAfterSeconds", 1)
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
        if exc.code == "draft.conflict" and isinstance(exc.details, dict):
            headers = {"ETag": f'"{exc.details.get("currentRevision")}"'}
        return ErrorResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=status_for(exc),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> ErrorResponse:
        details = [
            {
                "path": "/" + "/".join(str(p) for p in e.get("loc", ()) if p != "body"),
                "message": e.get("msg"),
            }
            for e in exc.errors()
        ]
        first = details[0]["message"] if details else "invalid request"
        return ErrorResponse(
            error_body("request.invalid", f"invalid request: {first}", details), status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> ErrorResponse:
        code = {
            400: "request.invalid",  # FastAPI: a body it could not parse
            404: "route.not_found",
            405: "route.method_not_allowed",
        }.get(exc.status_code, f"http.{exc.status_code}")
        return ErrorResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
