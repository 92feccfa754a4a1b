"""Waiting for something another thread or process does, bounded in time: the one polling helper
of the tests. A bound is not a threshold: it only turns a hang into a failure that says what
never happened, so it is generous (a loaded 2-core machine is slow, never wrong)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

DEADLINE_SECONDS = 30.0

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T],
    what: str = "the condition",
    *,
    seconds: float = DEADLINE_SECONDS,
    every: float = 0.02,
) -> T:
    """``probe()`` once it is truthy, polled every ``every`` seconds; fails the test, naming
    ``what``, after ``seconds``. A refused HTTP connection counts as "not yet" (a server that
    is still starting)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value: Any = probe()
        except httpx.TransportError:
            value = None
        if value:
            return value  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}"
        time.sleep(every)
