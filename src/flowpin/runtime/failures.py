"""Error categories and the error shape of SPEC §4.3.

An error is data: ``{category, message, stepId, attempt, at, data?}``. It is what ``error`` holds
in a ``catch`` pipe, what ``captureErrorAs`` stores, what a failed run reports, and what a
forEach item under ``onItemError: "continue"`` yields (as ``{"error": …}``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowpin.types import JSONObject

VALIDATION = "ValidationError"
EXPRESSION = "ExpressionError"
ACTION = "ActionError"
TRANSIENT = "TransientError"
TIMEOUT = "TimeoutError"

CATEGORIES = frozenset({VALIDATION, EXPRESSION, ACTION, TRANSIENT, TIMEOUT})
NEVER_RETRIED = frozenset({VALIDATION, EXPRESSION})
RETRYABLE_BY_DEFAULT = frozenset({TRANSIENT, TIMEOUT})
"""Retried under a policy without ``retryOn`` unless the error says ``retryable: false``;
an ActionError is retried only when it says ``retryable: true``."""


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def make_error(
    category: str,
    message: str,
    step_id: str | None,
    attempt: int,
    at: datetime,
    data: Any = None,
) -> JSONObject:
    error: JSONObject = {
        "category": category if category in CATEGORIES else ACTION,
        "message": message,
        "stepId": step_id,
        "attempt": attempt,
        "at": iso(at),
    }
    if data is not None:
        error["data"] = data
    return error


class StepFailure(Exception):
    """Raised inside the interpreter by a step handler to fail its step with ``category``;
    it never leaves ``advance``."""

    def __init__(self, category: str, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.data = data
