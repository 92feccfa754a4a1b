"""Shared vocabulary types; imports nothing from flowpin."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeAlias

JSONValue: TypeAlias = Any
"""Any value that round-trips through JSON (dict, list, str, int, float, bool, None)."""

JSONObject: TypeAlias = dict[str, Any]


class RunStatus(StrEnum):
    """Run lifecycle (SPEC §4.1): PENDING → RUNNING ⇄ WAITING → SUCCEEDED | FAILED | CANCELED."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})
"""A run that ended: nothing moves it again (an operator's retry makes it active again)."""

ACTIVE_STATUSES: tuple[RunStatus, ...] = (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING)
"""A run that has not ended: every status outside ``TERMINAL_STATUSES``, in lifecycle order (a
tuple, so that SQL ``IN`` lists built from it are always the same statement)."""
