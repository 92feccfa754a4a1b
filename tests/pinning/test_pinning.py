"""Pinning, proven: every run executes the version it started on, whatever is published or
drafted since. Each scenario (``scenarios.py``, the seven of seed 000) passes with flowpin's
resolver and fails with a resolver that reads the latest version or the draft instead."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pinkit import RESOLVERS, World
from scenarios import SCENARIOS, PinningViolated


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_runs_in_flight_keep_their_version(world: World, name: str) -> None:
    SCENARIOS[name](world)


@pytest.mark.parametrize("broken", sorted(RESOLVERS))
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_resolver_that_ignores_the_pin_fails_the_scenario(
    world: World, name: str, broken: str
) -> None:
    breaks: Callable[..., None] = RESOLVERS[broken]
    breaks(world.engine)
    with pytest.raises(PinningViolated):
        SCENARIOS[name](world)
