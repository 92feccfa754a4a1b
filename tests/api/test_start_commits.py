"""Starts that arrive together share a commit (``POST /api/runs`` from many clients at once):
each client still gets its own answer — its run as written, or its own error — and the answer
is the run exactly as a later ``GET`` shows it, masks included."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from apikit import WAITER, Client, error_code

from flowpin import Engine
from flowpin.engine.start_commits import Started, StartIn
from flowpin.errors import FlowpinError
from flowpin.security.redaction import MASK

SECRETIVE = {
    **WAITER,
    "key": "secretive",
    "settings": {"redact": ["/payload/card"]},
}


def _publish(client: Client, document: dict[str, Any]) -> None:
    key = document["key"]
    assert client.post("/api/workflows", json={"key": key, "draft": document}).status_code == 201
    assert client.post(f"/api/workflows/{key}/publish").status_code == 201


def _post_all(app: Any, key: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """Every body POSTed to /api/runs at once (the handlers run on threads side by side)."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://flowpin.test", headers=headers
        ) as http:
            return list(await asyncio.gather(*(http.post("/api/runs", json=b) for b in bodies)))

    return asyncio.run(asyncio.wait_for(go(), timeout=60))


def test_concurrent_starts_each_get_their_own_answer(
    client: Client, app: Any, keys: dict[str, str]
) -> None:
    _publish(client, WAITER)
    _publish(client, SECRETIVE)
    bodies: list[dict[str, Any]] = []
    for n in range(24):
        bodies.append({"workflow": "waiter", "payload": {"n": n}, "subject": f"s-{n}"})
    for n in range(4):
        bodies.append({"workflow": "waiter", "payload": {"n": f"not a number {n}"}})
    for _ in range(3):
        bodies.append({"workflow": "nowhere"})
    for _ in range(3):
        bodies.append({"workflow": "waiter", "payload": {"n": 1}, "idempotencyKey": "once"})
    bodies.append({"workflow": "secretive", "payload": {"card": "4111", "n": 2}})

    answers = _post_all(app, keys["editor"], bodies)

    created = answers[:24]
    assert [a.status_code for a in created] == [201] * 24
    assert [a.json()["subject"] for a in created] == [f"s-{n}" for n in range(24)]
    assert [a.json()["state"]["payload"] for a in created] == [{"n": n} for n in range(24)]
    assert len({a.json()["runId"] for a in created}) == 24
    assert [(a.status_code, error_code(a)) for a in answers[24:28]] == [
        (422, "run.invalid_payload")
    ] * 4
    assert [(a.status_code, error_code(a)) for a in answers[28:31]] == [
        (404, "workflow.not_found")
    ] * 3
    assert [a.status_code for a in answers[31:34]] == [201] * 3
    assert len({a.json()["runId"] for a in answers[31:34]}) == 1
    secret = answers[34].json()
    assert secret["state"]["payload"] == {"card": MASK, "n": 2}

    # No worker runs here: each run is still as it was written, and the answer was that run.
    for answer in [*created, answers[31], answers[34]]:
        assert client.get(f"/api/runs/{answer.json()['runId']}").json() == answer.json()
    listed = client.get("/api/runs", params={"workflow": "waiter", "limit": 100}).json()
    assert len(listed["items"]) == 24 + 1


def test_start_many_answers_per_item_in_one_call(engine: Engine) -> None:
    engine.publish(WAITER)
    outcomes = engine.start_many(
        [
            StartIn("waiter", {"n": 1}, subject="a"),
            {"workflow": "waiter", "payload": {"n": "x"}},
            {"workflow": "nowhere"},
            {"workflow": "waiter", "payload": {"n": 2}, "idempotency_key": "k"},
            {"workflow": "waiter", "payload": {"n": 3}, "idempotency_key": "k"},
            {"workflow": "waiter", "subject": "\x00"},
            {"payload": {}},
        ]
    )
    kinds = [o.code if isinstance(o, FlowpinError) else "started" for o in outcomes]
    assert kinds == [
        "started",
        "run.invalid_payload",
        "workflow.not_found",
        "started",
        "started",
        "input.invalid_value",
        "input.invalid_value",
    ]
    first, keyed, again = outcomes[0], outcomes[3], outcomes[4]
    assert isinstance(first, Started) and isinstance(keyed, Started) and isinstance(again, Started)
    assert keyed.run_id == again.run_id and keyed.created and not again.created
    assert engine.get_run(first.run_id)["subject"] == "a"
    assert {r["runId"] for r in engine.list_runs(workflow="waiter")} == {
        first.run_id,
        keyed.run_id,
    }


def test_runs_batch_answers_each_item_as_post_runs_would(client: Client) -> None:
    _publish(client, WAITER)
    _publish(client, SECRETIVE)
    items = [
        {"workflow": "waiter", "payload": {"n": 1}, "subject": "a"},
        {"workflow": "waiter", "payload": {"n": "x"}},
        {"workflow": "nowhere"},
        {"workflow": "secretive", "payload": {"card": "4111"}},
        {"workflow": "waiter", "idempotencyKey": "k"},
        {"workflow": "waiter", "idempotencyKey": "k"},
    ]
    answer = client.post("/api/runs/batch", json={"items": items})
    assert answer.status_code == 200
    got = answer.json()["items"]
    assert [(g["status"], (g.get("error") or {}).get("code")) for g in got] == [
        (201, None),
        (422, "run.invalid_payload"),
        (404, "workflow.not_found"),
        (201, None),
        (201, None),
        (201, None),
    ]
    assert got[3]["run"]["state"]["payload"] == {"card": MASK}
    assert got[4]["run"]["runId"] == got[5]["run"]["runId"]
    for item in (got[0], got[3], got[5]):
        assert client.get(f"/api/runs/{item['run']['runId']}").json() == item["run"]

    too_many = client.post("/api/runs/batch", json={"items": [{"workflow": "waiter"}] * 1001})
    assert too_many.status_code == 400 and error_code(too_many) == "request.invalid"
    assert client.post("/api/runs/batch", json={"items": []}).status_code == 400
    unstorable = [{"workflow": "waiter"}, {"workflow": "waiter", "subject": "bad\x00"}]
    refused = client.post("/api/runs/batch", json={"items": unstorable})
    assert refused.status_code == 400  # refused whole at the boundary, as POST /api/runs is
    assert len(client.get("/api/runs", params={"workflow": "waiter"}).json()["items"]) == 2


def test_events_batch_resumes_runs_and_answers_each_item(client: Client, engine: Engine) -> None:
    _publish(client, WAITER)
    run_ids = [
        client.post("/api/runs", json={"workflow": "waiter", "subject": f"s-{n}"}).json()["runId"]
        for n in range(3)
    ]
    engine.run_worker(until_idle=True)
    items = [
        {"name": "go", "key": "s-0", "payload": {"n": 0}},
        {"name": "go", "key": "s-1", "payload": {"n": 1}},
        {"name": "go", "key": "s-2", "payload": {"n": 2}, "eventId": "e-2"},
        {"name": "go", "key": "s-2", "eventId": "e-2"},
    ]
    answer = client.post("/api/events/batch", json={"items": items})
    assert answer.status_code == 200
    got = answer.json()["items"]
    assert [g["status"] for g in got] == [202] * 4
    assert [g["event"]["resumed"] for g in got] == [
        [run_ids[0]],
        [run_ids[1]],
        [run_ids[2]],
        [run_ids[2]],
    ]
    assert got[2]["event"]["duplicate"] is False and got[3]["event"]["duplicate"] is True
    assert client.get("/api/events", params={"key": "s-0"}).json()["items"][0]["payload"] == {
        "n": 0
    }
    refused = client.post("/api/events/batch", json={"items": [{"name": "go", "key": "\x00"}]})
    assert refused.status_code == 400
    engine.run_worker(until_idle=True)
    outputs = [client.get(f"/api/runs/{run_id}").json()["output"] for run_id in run_ids]
    assert outputs == [{"n": 0}, {"n": 1}, {"n": 2}]
