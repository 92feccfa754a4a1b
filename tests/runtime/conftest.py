from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowpin.runtime import machine


@pytest.fixture(autouse=True)
def _raise_internal_errors() -> Iterator[None]:
    """Interpreter bugs surface as exceptions in these tests instead of failed steps."""
    previous = machine.RAISE_INTERNAL_ERRORS
    machine.RAISE_INTERNAL_ERRORS = True
    yield
    machine.RAISE_INTERNAL_ERRORS = previous
