"""The ``harness`` fixture: an engine on a real database (both, through ``db_url``) with a fake
clock and the actions of ``sample_actions``, for tests that drive whole runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

import sample_actions
from flowpin.clock import FakeClock
from flowpin.engine import Engine
from flowpin.registry.catalog import Registry
from flowpin.testing.kit import advance


class Harness:
    """An engine on a real database with a fake clock, plus helpers to work it."""

    def __init__(self, url: str) -> None:
        sample_actions.CALLS.clear()
        sample_actions.FLAKY.clear()
        self.clock = FakeClock()
        registry = Registry()
        registry.register(sample_actions)
        self.engine = Engine(url, registry=registry, clock=self.clock)

    def work(self) -> None:
        self.engine.run_worker(until_idle=True)

    def advance(self, **delta: float) -> None:
        """Move the clock, firing every timer on the way in order."""
        advance(self.engine, self.clock, timedelta(**delta))

    def run(self, definition: dict, payload: dict | None = None, **kw: object) -> dict:
        self.engine.publish(definition)
        run_id = self.engine.start(definition["key"], payload or {}, **kw)  # type: ignore[arg-type]
        self.work()
        return self.engine.get_run(run_id)


@pytest.fixture
def harness(db_url: str) -> Iterator[Harness]:
    h = Harness(db_url)
    yield h
    h.engine.close()
