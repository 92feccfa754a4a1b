"""The lean routes (``api.lean``), which the front door (``api.front``) answers before FastAPI's
routing, answer as the full FastAPI handlers do: for each request, the same status, the same
headers and the same body (error code, or the data that does not differ between two requests).
A query string hands a request to the full handler (FastAPI ignores one it does not declare),
so each request is sent plainly and with ``?full=1``, to the same kind of target."""

from __future__ import annotations

from typing import Any

import pytest
from apikit import WAITER, Client

from flowpin import Engine

JSON = {"Content-Type": "application/json"}

# (what is sent, how): body bytes, headers, key role (None: no key)
EVENT_CASES: list[tuple[str, bytes, dict[str, str], str | None]] = [
    ("plain", b'{"name": "go", "key": "s-1", "payload": {"n": 1}}', JSON, "editor"),
    ("no key", b'{"name": "go", "key": "s-1"}', JSON, None),
    ("viewer key", b'{"name": "go", "key": "s-1"}', JSON, "viewer"),
    ("malformed, no key", b'{"name": ', JSON, None),
    ("malformed", b'{"name": ', JSON, "editor"),
    ("empty", b"", JSON, "editor"),
    ("not an object", b"[1, 2]", JSON, "editor"),
    ("missing name", b'{"key": "s-1"}', JSON, "editor"),
    ("missing name, no key", b'{"key": "s-1"}', JSON, None),
    ("unknown field", b'{"name": "go", "color": 1}', JSON, "editor"),
    ("NUL in payload", b'{"name": "go", "payload": {"a": "x\\u0000y"}}', JSON, "editor"),
    ("NUL, no key", b'{"name": "go", "payload": {"a": "x\\u0000y"}}', JSON, None),
    ("lone surrogate", b'{"name": "go", "payload": "\\ud800"}', JSON, "editor"),
    ("NaN", b'{"name": "go", "payload": NaN}', JSON, "editor"),
    ("ttl too long", b'{"name": "go", "ttlMs": -1}', JSON, "editor"),
    ("text/plain", b'{"name": "go"}', {"Content-Type": "text/plain"}, "editor"),
    (
        "json with charset",
        b'{"name": "go"}',
        {"Content-Type": "application/json; charset=utf-8"},
        "editor",
    ),
    ("no content type", b'{"name": "go"}', {}, "editor"),
]

START_CASES: list[tuple[str, bytes, dict[str, str], str | None]] = [
    ("plain", b'{"workflow": "waiter", "payload": {"n": 1}}', JSON, "editor"),
    ("no key", b'{"workflow": "waiter"}', JSON, None),
    ("viewer key", b'{"workflow": "waiter"}', JSON, "viewer"),
    ("unknown workflow", b'{"workflow": "nope"}', JSON, "editor"),
    (
        "payload refused by its schema",
        b'{"workflow": "waiter", "payload": {"n": "x"}}',
        JSON,
        "editor",
    ),
    ("version 0", b'{"workflow": "waiter", "version": 0}', JSON, "editor"),
    ("malformed, no key", b"{", JSON, None),
    ("missing workflow", b"{}", JSON, "editor"),
    ("NUL in subject", b'{"workflow": "waiter", "subject": "a\\u0000"}', JSON, "editor"),
    ("idempotency key", b'{"workflow": "waiter", "idempotencyKey": "once"}', JSON, "editor"),
    ("text/plain", b'{"workflow": "waiter"}', {"Content-Type": "text/plain"}, "editor"),
]

VARYING = {"runId", "createdAt", "finishedAt", "id", "receivedAt", "eventId"}


def _comparable(body: Any) -> Any:
    """The answer without what differs between two requests (ids, times)."""
    if isinstance(body, dict):
        return {k: _comparable(v) for k, v in body.items() if k not in VARYING}
    if isinstance(body, list):
        return [_comparable(v) for v in body]
    return body


@pytest.fixture
def published(client: Client, engine: Engine) -> None:
    engine.publish(WAITER)


CASES = [("/api/events", *case) for case in EVENT_CASES] + [
    ("/api/runs", *case) for case in START_CASES
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_a_post_answers_as_the_full_handler(
    case: tuple[str, str, bytes, dict[str, str], str | None],
    client: Client,
    keys: dict[str, str],
    published: None,
) -> None:
    path, _name, body, headers, role = case
    who = client.as_key(keys[role] if role else None)
    lean = who.post(path, content=body, headers=headers)
    full = who.post(f"{path}?full=1", content=body, headers=headers)
    assert lean.status_code == full.status_code
    assert _comparable(lean.json()) == _comparable(full.json())
    assert _headers(lean) == _headers(full)


@pytest.mark.parametrize("role", ["viewer", None, "other"])
@pytest.mark.parametrize("target", ["known", "unknown", "with NUL"])
def test_get_run_answers_as_the_full_handler(
    role: str | None, target: str, client: Client, keys: dict[str, str], engine: Engine
) -> None:
    engine.publish(WAITER)
    run_id = engine.start(WAITER["key"], {}, subject="s-1")
    engine.run_worker(until_idle=True)
    path = {"known": run_id, "unknown": "no-such-run", "with NUL": "a%00b"}[target]
    who = client.as_key(keys[role] if role else None)
    lean = who.get(f"/api/runs/{path}")
    full = who.get(f"/api/runs/{path}?full=1")
    assert lean.status_code == full.status_code
    assert lean.json() == full.json()
    assert _headers(lean) == _headers(full)


def _headers(answer: Any) -> dict[str, str]:
    """The answer's headers but its length (which follows the body's varying ids)."""
    return {k: v for k, v in answer.headers.items() if k != "content-length"}


def test_a_plain_request_is_answered_before_fastapis_routing(
    client: Client, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The front door answers plain requests of the lean routes; anything else (a query
    string) is routed as before, and so is a path that another route shares."""
    from fastapi.routing import APIRouter

    routed: list[str] = []
    route = APIRouter.__call__

    async def counting(self: APIRouter, scope: Any, receive: Any, send: Any) -> None:
        routed.append(scope["path"])
        await route(self, scope, receive, send)

    monkeypatch.setattr(APIRouter, "__call__", counting)
    engine.publish(WAITER)
    run_id = engine.start(WAITER["key"], {}, subject="s-1")
    assert client.get(f"/api/runs/{run_id}").status_code == 200
    assert client.post("/api/events", json={"name": "go", "key": "s-1"}).status_code == 202
    assert client.post("/api/runs", json={"workflow": "waiter"}).status_code == 201
    assert routed == []
    assert client.get(f"/api/runs/{run_id}?full=1").status_code == 200
    counts = client.get("/api/runs/counts")  # also a match of /api/runs/{run_id}
    assert counts.status_code == 200 and "counts" in counts.json()
    assert routed == [f"/api/runs/{run_id}", "/api/runs/counts"]


def test_without_an_openapi_document_every_request_is_routed(
    app: Any, client: Client, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The front door learns from the app's OpenAPI document which paths another route shares;
    an app whose document cannot be made (a route an application mounted that the schema
    cannot describe) is served by FastAPI's routing alone, not refused."""

    def broken() -> dict[str, Any]:
        raise ValueError("a route the schema cannot describe")

    monkeypatch.setattr(app, "openapi", broken)
    engine.publish(WAITER)
    run_id = engine.start(WAITER["key"], {}, subject="s-1")
    for _ in range(2):
        answer = client.get(f"/api/runs/{run_id}")
        assert answer.status_code == 200 and answer.json()["runId"] == run_id
