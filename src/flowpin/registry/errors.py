"""Exceptions an action handler raises to tell the engine how its failure should be treated.

    FlowpinError
    └── ActionError(message, retryable=False, data=None)   the action failed (category ActionError)
        └── RetryAfter(seconds, message=None)               failed, retry no sooner than ``seconds``

Anything else a handler raises is an ``ActionError`` too; it is retryable when the action's
``retryable`` classification says so (``@action(retryable=...)``). Whether a retryable failure is
retried at all depends on the step's retry policy, or the action's default one (SPEC §4.3).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import StatementError

from flowpin.errors import FlowpinError


class ActionError(FlowpinError):
    """Raise from a handler to fail the call with a message meant for the run's history.

    ``retryable`` marks the failure worth retrying under the step's retry policy; ``data`` is
    JSON that ends up in the run's ``error.data`` (and so in ``captureErrorAs``)::

        raise ActionError("mailbox full", retryable=True, data={"mailbox": address})
    """

    code = "action.error"

    def __init__(self, message: str, *, retryable: bool = False, data: Any = None) -> None:
        super().__init__(message, details=data)
        self.retryable = retryable
        self.data = data


class RetryAfter(ActionError):
    """Raise from a handler to ask for a retry after ``seconds`` (e.g. from an HTTP 429
    ``Retry-After`` header). The delay replaces the one the retry policy would compute; the
    policy's attempt count and budget still apply::

        raise RetryAfter(30, "rate limited by the CRM")
    """

    code = "action.retry_after"

    def __init__(self, seconds: float, message: str | None = None, *, data: Any = None) -> None:
        if seconds < 0:
            raise ValueError("RetryAfter seconds must be >= 0")
        super().__init__(message or f"retry after {seconds:g} seconds", retryable=True, data=data)
        self.seconds = float(seconds)


class TargetUnreachable(ActionError):
    """A built-in could not reach its target: refused by the address policy, not resolvable,
    closed or not answering - one message and one ``data`` for all of them, retryable
    (``flowpin.security.address_policy``)."""


def failure_message(exc: Exception) -> str:
    """What a person reads about an exception a handler raised: its type and message - for a
    database error, the driver's error and the first line of its message only. SQLAlchemy's
    own text carries the statement and its parameters (``[SQL: …] [parameters: …]``), and a
    driver's later lines (PostgreSQL's ``DETAIL``) the values of the row: data that belongs
    to the database, not to a run's error, a task's description or a person's screen."""
    if isinstance(exc, StatementError):
        cause = exc.orig if isinstance(exc.orig, BaseException) else None
        kind = type(cause).__name__ if cause is not None else type(exc).__name__
        lines = str(cause).strip().splitlines() if cause is not None else []
        return f"database error: {kind}" + (f": {lines[0]}" if lines else "")
    return f"{type(exc).__name__}: {exc}"
