"""The error vocabulary shared by every layer.

Codes are strings (``definition.invalid``, ``run.not_found``) because they read well in logs and
JSON; the HTTP layer maps them to statuses in one table. This module imports no flowpin module.

    FlowpinError
    ├── DefinitionError        a definition failed to load or validate (carries problems)
    ├── ExpressionError        a JSONata expression failed to compile or evaluate
    ├── RegistryError          a duplicate or malformed registration
    ├── NotFoundError          a workflow, version, run, task … does not exist (for this tenant)
    ├── ConflictError          a concurrent edit, an illegal status transition, a duplicate
    └── LimitError             an input, output or rate exceeded its configured limit
"""

from __future__ import annotations

from typing import Any


class FlowpinError(Exception):
    """Base of every error flowpin raises on purpose; ``except FlowpinError`` catches them all."""

    code: str = "flowpin.error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class DefinitionError(FlowpinError):
    """Raised when a definition cannot be loaded or fails validation; ``details`` is the list of
    problems."""

    code = "definition.invalid"


class ExpressionError(FlowpinError):
    """An expression failed to compile or to evaluate (including when it hit a limit).

    ``position`` counts code points into ``expression``; ``reason`` is the engine's message and
    ``jsonata_code`` the JSONata error code (``S0201``) when the engine gave one.
    """

    code = "expression.error"

    def __init__(
        self,
        reason: str,
        *,
        expression: str,
        position: int | None = None,
        jsonata_code: str | None = None,
        token: str | None = None,
    ) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(
            f"{reason}{where} in expression {expression!r}",
            details={
                "expression": expression,
                "position": position,
                "reason": reason,
                "jsonataCode": jsonata_code,
                "token": token,
            },
        )
        self.expression = expression
        self.position = position
        self.reason = reason
        self.jsonata_code = jsonata_code
        self.token = token


class RegistryError(FlowpinError):
    """A registration was refused (duplicate id@version, bad model, unknown ref)."""

    code = "registry.invalid"


class NotFoundError(FlowpinError):
    """The named thing does not exist, or belongs to another tenant."""

    code = "not_found"


class ConflictError(FlowpinError):
    """The request conflicts with the current state (concurrent edit, terminal run, duplicate)."""

    code = "conflict"


class LimitError(FlowpinError):
    """A configured limit was exceeded (input size, output size, rate, history length)."""

    code = "limit.exceeded"
