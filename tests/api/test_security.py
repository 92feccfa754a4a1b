"""Authentication, roles, tenant isolation, body size limit, error shape and OpenAPI."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from apikit import TASKER, WAITER, Client, error_code

from flowpin import Engine
from flowpin.api import create_app


def test_authentication(client: Client) -> None:
    anonymous = client.as_key(None)
    missing = anonymous.get("/api/workflows")
    assert missing.status_code == 401 and error_code(missing) == "auth.missing"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.as_key("fp_not-a-key").get("/api/workflows")
    assert wrong.status_code == 401 and error_code(wrong) == "auth.invalid"
    basic = anonymous.get("/api/workflows", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401
    assert anonymous.get("/api/health").json() == {"status": "ok", "pid": os.getpid()}
    unknown = client.get("/api/nothing-here")
    assert unknown.status_code == 404 and error_code(unknown) == "route.not_found"


def test_keys_are_stored_hashed(engine: Engine, keys: dict[str, str]) -> None:
    import sqlalchemy as sa

    from flowpin.store import tables as t

    with engine.db.read() as conn:
        stored = conn.execute(sa.select(t.api_keys.c.key_hash)).scalars().all()
    assert len(stored) == 4
    assert not set(stored) & set(keys.values())
    listed = engine.list_api_keys()
    assert {k["role"] for k in listed} == {"viewer", "editor", "admin"}
    assert all("key" not in k for k in listed)
    principal = engine.authenticate(keys["other"])
    assert principal is not None and (principal.tenant, principal.role) == ("other", "admin")


def test_roles(client: Client, keys: dict[str, str]) -> None:
    viewer, editor = client.as_key(keys["viewer"]), client.as_key(keys["editor"])
    created = editor.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    assert created.status_code == 201
    saved = editor.put("/api/workflows/waiter/draft", json={"draft": WAITER, "expectedRevision": 1})
    assert saved.status_code == 200
    denied = viewer.post("/api/workflows/waiter/publish")
    assert denied.status_code == 403 and error_code(denied) == "auth.forbidden"
    assert editor.post("/api/workflows/waiter/publish").status_code == 403
    assert client.post("/api/workflows/waiter/publish").status_code == 201
    assert viewer.post("/api/workflows", json={"key": "x"}).status_code == 403
    assert viewer.post("/api/runs", json={"workflow": "waiter"}).status_code == 403
    assert viewer.post("/api/events", json={"name": "go"}).status_code == 403
    assert viewer.get("/api/workflows/waiter").status_code == 200
    assert viewer.post("/api/workflows/waiter/validate").status_code == 200
    run = editor.post("/api/runs", json={"workflow": "waiter", "subject": "s"})
    assert run.status_code == 201
    run_id = run.json()["runId"]
    assert editor.post("/api/workflows/waiter/runs/cancel-all").status_code == 403
    assert editor.post(f"/api/runs/{run_id}/cancel").status_code == 403
    assert editor.delete("/api/workflows/waiter").status_code == 403
    assert client.post("/api/workflows/waiter/runs/cancel-all").json()["canceled"] == [run_id]


def _every_call(key: str, run_id: str, task_id: str) -> list[tuple[str, str, Any]]:
    wf = f"/api/workflows/{key}"
    return [
        ("GET", wf, None),
        ("PUT", f"{wf}/draft", {"draft": WAITER}),
        ("POST", f"{wf}/validate", None),
        ("POST", f"{wf}/publish", None),
        ("GET", f"{wf}/versions", None),
        ("GET", f"{wf}/versions/1", None),
        ("GET", f"{wf}/layout", None),
        ("PUT", f"{wf}/layout", {"layout": {"a": 1}}),
        ("PATCH", wf, {"paused": True}),
        ("POST", f"{wf}/duplicate", {"key": "stolen"}),
        ("POST", f"{wf}/runs/cancel-all", None),
        ("POST", f"{wf}/migrations", {"fromVersion": 1, "toVersion": 2}),
        ("DELETE", wf, None),
        ("POST", "/api/runs", {"workflow": key}),
        ("GET", f"/api/runs/{run_id}", None),
        ("GET", f"/api/runs/{run_id}/steps", None),
        ("POST", f"/api/runs/{run_id}/cancel", None),
        ("POST", f"/api/runs/{run_id}/resume", None),
        ("POST", f"/api/runs/{run_id}/retry", None),
        ("POST", f"/api/runs/{run_id}/replay", None),
        ("POST", f"/api/runs/{run_id}/rerun", None),
        ("GET", f"/api/tasks/{task_id}", None),
        ("POST", f"/api/tasks/{task_id}/complete", {"data": {"ok": True}}),
    ]


def test_tenant_isolation(client: Client, engine: Engine, keys: dict[str, str]) -> None:
    for definition in (WAITER, TASKER):
        client.post("/api/workflows", json={"key": definition["key"], "draft": definition})
        client.post(f"/api/workflows/{definition['key']}/publish")
    run_id = client.post("/api/runs", json={"workflow": "waiter", "subject": "s"}).json()["runId"]
    client.post("/api/runs", json={"workflow": "approve"})
    engine.run_worker(until_idle=True)
    task_id = client.get("/api/tasks").json()["items"][0]["taskId"]
    client.post("/api/events", json={"name": "unrelated", "key": "s"})
    before = client.get(f"/api/runs/{run_id}").json()

    intruder = client.as_key(keys["other"])
    for method, url, body in _every_call("waiter", run_id, task_id):
        response = intruder.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)
        assert "waiter" not in str(response.json()["error"]["details"] or "")
    assert intruder.get("/api/workflows").json() == {"items": [], "nextCursor": None}
    assert intruder.get("/api/runs").json() == {"items": [], "nextCursor": None}
    assert intruder.get("/api/events").json() == {"items": [], "nextCursor": None}
    assert intruder.get("/api/tasks", params={"status": "all"}).json() == {"items": []}
    # an event of the other tenant with the same name and key resumes nothing here
    sent = intruder.post("/api/events", json={"name": "go", "key": "s"}).json()
    assert sent["resumed"] == [] and sent["started"] == []
    # the same key in the other tenant is a different workflow
    assert intruder.post("/api/workflows", json={"key": "waiter"}).status_code == 201
    assert intruder.get("/api/workflows/waiter").json()["latestVersion"] is None

    after = client.get(f"/api/runs/{run_id}").json()
    assert after == before
    assert client.get("/api/workflows/waiter").json()["latestVersion"] == 1
    assert client.get(f"/api/tasks/{task_id}").json()["status"] == "open"


def test_body_limit_and_request_errors(client: Client) -> None:
    huge = {"workflow": "waiter", "payload": {"blob": "x" * 70_000}}
    refused = client.post("/api/runs", json=huge)
    assert refused.status_code == 413 and error_code(refused) == "request.too_large"

    async def chunks():  # no Content-Length: the body is streamed
        for _ in range(20):
            yield b"x" * 8192

    streamed = client.post("/api/events", content=chunks())
    assert streamed.status_code == 413
    malformed = client.post(
        "/api/events", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400 and error_code(malformed) == "request.invalid"
    extra = client.post("/api/events", json={"name": "x", "surprise": 1})
    assert extra.status_code == 400


def test_openapi_and_docs(client: Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/api/workflows",
        "/api/workflows/{key}/publish",
        "/api/runs/{run_id}/retry",
        "/api/events",
        "/api/tasks/{task_id}/complete",
        "/api/registry/nodes",
        "/api/expressions/validate",
    ):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_app_from_a_factory_owns_the_engine(sqlite_url: str) -> None:
    created: list[Engine] = []

    def make() -> Engine:
        created.append(Engine(sqlite_url))
        return created[-1]

    app = create_app(make)
    assert created == []

    async def lifetime() -> None:
        async with app.router.lifespan_context(app):
            assert app.state.engine is created[0]

    asyncio.run(lifetime())
    assert len(created) == 1


def test_event_rate_limit_per_tenant(engine: Engine, keys: dict[str, str]) -> None:
    app: Any = create_app(engine, events_per_second=0.001)
    client = Client(app, keys["editor"])
    try:
        assert client.post("/api/events", json={"name": "a"}).status_code == 202
        limited = client.post("/api/events", json={"name": "a"})
        assert limited.status_code == 429 and error_code(limited) == "limit.rate"
        assert int(limited.headers["retry-after"]) >= 1
        # another tenant has its own budget
        assert (
            client.as_key(keys["other"]).post("/api/events", json={"name": "a"}).status_code == 202
        )
    finally:
        client.close()


def test_revoked_key_is_refused(engine: Engine) -> None:
    new = engine.create_api_key("viewer")
    client = Client(create_app(engine, key_cache_seconds=0), new.key)
    try:
        assert client.get("/api/workflows").status_code == 200
        engine.revoke_api_key(new.key_id)
        refused = client.get("/api/workflows")
        assert refused.status_code == 401 and error_code(refused) == "auth.invalid"
    finally:
        client.close()


def test_out_of_range_numbers_are_refused_not_crashed(client: Client) -> None:
    """Integers beyond what the database stores (found by schemathesis: a version of 2**63
    crashed the runs listing on SQLite) are request errors, never a 500."""
    client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    assert client.post("/api/workflows/waiter/publish").status_code == 201
    huge = 2**63
    checks = [
        client.get(f"/api/runs?version={huge}"),
        client.get(f"/api/runs?limit={huge}"),
        client.get(f"/api/events?limit={huge}"),
        client.get(f"/api/workflows?limit={huge}"),
        client.get(f"/api/workflows/waiter/versions/{huge}"),
        client.post("/api/runs", json={"workflow": "waiter", "version": huge}),
        client.post("/api/events", json={"name": "go", "key": "k", "ttlMs": huge}),
        client.patch("/api/workflows/waiter", json={"concurrencyLimit": huge}),
        client.put("/api/workflows/waiter/draft", json={"draft": WAITER, "expectedRevision": huge}),
    ]
    for response in checks:
        assert response.status_code in (400, 404, 422), (response.request.url, response.text)
