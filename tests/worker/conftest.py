"""Fixtures of the worker-fleet tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from flowpin.engine import Engine

E = TypeVar("E", bound=Engine)


@pytest.fixture
def closing() -> Iterator[Callable[[E], E]]:
    """Register an engine to be closed when the test ends, pass or fail: an engine left to the
    garbage collector drops open pooled connections in whichever test runs next, which then
    fails on psycopg's ResourceWarning."""
    opened: list[Engine] = []

    def register(engine: E) -> E:
        opened.append(engine)
        return engine

    yield register
    for engine in reversed(opened):
        engine.close()
