"""Runs, events and tasks through HTTP."""

from __future__ import annotations

from apikit import TASKER, WAITER, Client, error_code

from flowpin import Engine


def _publish(client: Client, definition: dict) -> None:
    key = definition["key"]
    assert client.post("/api/workflows", json={"key": key, "draft": definition}).status_code == 201
    assert client.post(f"/api/workflows/{key}/publish").status_code == 201


def test_start_list_get_event_and_finish(client: Client, engine: Engine) -> None:
    _publish(client, WAITER)
    started = client.post(
        "/api/runs", json={"workflow": "waiter", "payload": {"n": 1}, "subject": "s-1"}
    )
    assert started.status_code == 201, started.text
    run = started.json()
    assert run["status"] == "PENDING" and run["version"] == 1 and run["subject"] == "s-1"
    same = client.post(
        "/api/runs", json={"workflow": "waiter", "subject": "s-2", "idempotencyKey": "k-1"}
    ).json()["runId"]
    again = client.post(
        "/api/runs", json={"workflow": "waiter", "subject": "s-2", "idempotencyKey": "k-1"}
    ).json()["runId"]
    assert same == again
    bad = client.post("/api/runs", json={"workflow": "waiter", "payload": {"n": "x"}})
    assert bad.status_code == 422 and error_code(bad) == "run.invalid_payload"
    assert client.post("/api/runs", json={"workflow": "nope"}).status_code == 404
    assert client.post("/api/runs", json={"workflow": "waiter", "version": 7}).status_code == 404

    engine.run_worker(until_idle=True)
    waiting = client.get(f"/api/runs/{run['runId']}").json()
    assert waiting["status"] == "WAITING"
    assert waiting["waitingFor"][0]["eventName"] == "go"
    assert waiting["currentStep"] == "wait"

    listed = client.get("/api/runs", params={"workflow": "waiter", "status": "waiting"}).json()
    assert {r["runId"] for r in listed["items"]} == {run["runId"], same}
    assert [r["runId"] for r in client.get("/api/runs", params={"subject": "s-1"}).json()["items"]]
    assert client.get("/api/runs", params={"step": "wait"}).json()["items"]
    assert client.get("/api/runs", params={"version": 2}).json()["items"] == []
    future = client.get("/api/runs", params={"createdAfter": "2999-01-01T00:00:00Z"}).json()
    assert future["items"] == []
    past = client.get("/api/runs", params={"createdBefore": "2999-01-01T00:00:00Z"}).json()
    assert len(past["items"]) == 2
    assert client.get("/api/runs", params={"createdAfter": "yesterday"}).status_code == 400
    page1 = client.get("/api/runs", params={"limit": 1}).json()
    page2 = client.get("/api/runs", params={"limit": 1, "cursor": page1["nextCursor"]}).json()
    assert page1["nextCursor"] and page2["nextCursor"] is None
    assert {page1["items"][0]["runId"], page2["items"][0]["runId"]} == {run["runId"], same}

    sent = client.post("/api/events", json={"name": "go", "key": "s-1", "payload": {"ok": 1}})
    assert sent.status_code == 202, sent.text
    assert sent.json()["resumed"] == [run["runId"]] and sent.json()["started"] == []
    engine.run_worker(until_idle=True)
    done = client.get(f"/api/runs/{run['runId']}").json()
    assert done["status"] == "SUCCEEDED" and done["output"] == {"ok": 1}
    steps = client.get(f"/api/runs/{run['runId']}/steps").json()["items"]
    assert [s["stepId"] for s in steps][-1] == "done"
    assert client.get("/api/runs/no-such-run").status_code == 404
    assert client.get("/api/runs/no-such-run/steps").status_code == 404


def test_operator_actions(client: Client, engine: Engine) -> None:
    _publish(client, WAITER)
    run_id = client.post("/api/runs", json={"workflow": "waiter", "subject": "s"}).json()["runId"]
    engine.run_worker(until_idle=True)
    resumed = client.post(f"/api/runs/{run_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "WAITING"
    assert client.post(f"/api/runs/{run_id}/retry").status_code == 409
    canceled = client.post(f"/api/runs/{run_id}/cancel").json()
    assert canceled["status"] == "CANCELED"
    terminal = client.post(f"/api/runs/{run_id}/resume")
    assert terminal.status_code == 409 and error_code(terminal) == "run.terminal"
    retried = client.post(f"/api/runs/{run_id}/retry", json={"fromStep": "mark"})
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "RUNNING"
    rerun = client.post(f"/api/runs/{run_id}/rerun")
    assert rerun.status_code == 201
    assert rerun.json()["runId"] != run_id and rerun.json()["subject"] == "s"
    replayed = client.post(f"/api/runs/{run_id}/replay")  # the former name still works
    assert replayed.status_code == 201
    assert replayed.json()["runId"] not in (run_id, rerun.json()["runId"])
    for verb in ("cancel", "resume", "retry", "rerun", "replay"):
        assert client.post(f"/api/runs/nope/{verb}").status_code == 404


def test_events_are_stored_listed_and_deduplicated(client: Client) -> None:
    first = client.post("/api/events", json={"name": "ping", "key": "a", "eventId": "e-1"}).json()
    dup = client.post("/api/events", json={"name": "ping", "key": "a", "eventId": "e-1"}).json()
    assert dup["duplicate"] is True and dup["eventId"] == first["eventId"]
    client.post("/api/events", json={"name": "pong", "key": "b", "ttlMs": 1000})
    client.post("/api/events", json={"name": "ping", "key": "c", "payload": [1]})
    pings = client.get("/api/events", params={"name": "ping"}).json()["items"]
    assert [e["key"] for e in pings] == ["c", "a"]
    assert client.get("/api/events", params={"key": "b"}).json()["items"][0]["expiresAt"]
    page = client.get("/api/events", params={"limit": 2}).json()
    rest = client.get("/api/events", params={"limit": 2, "cursor": page["nextCursor"]}).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1
    assert client.post("/api/events", json={"name": ""}).status_code == 400
    assert client.post("/api/events", json={"name": "x", "ttlMs": -1}).status_code == 400


def test_tasks(client: Client, engine: Engine) -> None:
    _publish(client, TASKER)
    run_id = client.post("/api/runs", json={"workflow": "approve"}).json()["runId"]
    engine.run_worker(until_idle=True)
    tasks = client.get("/api/tasks").json()["items"]
    assert len(tasks) == 1 and tasks[0]["runId"] == run_id
    task_id = tasks[0]["taskId"]
    assert client.get(f"/api/tasks/{task_id}").json()["title"] == "Approve?"
    assert client.get("/api/tasks/nope").status_code == 404
    bad = client.post(f"/api/tasks/{task_id}/complete", json={"data": {"ok": "yes"}})
    assert bad.status_code == 422 and error_code(bad) == "task.invalid_data"
    assert bad.json()["error"]["details"][0]["path"] == "/ok"
    done = client.post(f"/api/tasks/{task_id}/complete", json={"data": {"ok": True}})
    assert done.status_code == 200 and done.json()["status"] == "completed"
    again = client.post(f"/api/tasks/{task_id}/complete", json={"data": {"ok": True}})
    assert again.status_code == 409
    engine.run_worker(until_idle=True)
    assert client.get(f"/api/runs/{run_id}").json()["output"] == {"ok": True}
    assert client.get("/api/tasks").json()["items"] == []
    assert len(client.get("/api/tasks", params={"status": "all"}).json()["items"]) == 1
