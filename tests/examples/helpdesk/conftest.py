"""Fixtures of the helpdesk example: an Engine with the helpdesk installed on the test's
database (SQLite and PostgreSQL through ``db_url``), attachments in the test's own folder."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
for folder in (ROOT, HERE):  # `examples` is a package of the repository root
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from helpdesk_kit import Helpdesk  # noqa: E402


@pytest.fixture
def helpdesk(db_url: str, tmp_path: Path) -> Iterator[Helpdesk]:
    desk = Helpdesk.open(db_url, tmp_path / "attachments")
    try:
        yield desk
    finally:
        desk.close()
