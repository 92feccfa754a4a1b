"""API test fixtures: an Engine on ``db_url`` (SQLite and PostgreSQL), the FastAPI app over it
and a client. ``keys`` holds one key per role for tenant ``acme`` and an admin key of tenant
``other``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from apikit import Client

from flowpin import Engine
from flowpin.api import create_app


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    with Engine(db_url, tenant="acme") as engine:
        yield engine


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    result = {role: engine.create_api_key(role).key for role in ("viewer", "editor", "admin")}
    result["other"] = engine.for_tenant("other").create_api_key("admin").key
    return result


@pytest.fixture
def app(engine: Engine) -> Any:
    return create_app(engine, max_body_bytes=64 * 1024)


@pytest.fixture
def client(app: Any, keys: dict[str, str]) -> Iterator[Client]:
    client = Client(app, keys["admin"])
    yield client
    client.close()
