"""What the run viewer reads through HTTP: each step's start and duration, the version it ran
under, which event resolved a wait, who completed a task, an operator's resume; the events
list with what each event did; the tasks inbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from apikit import Client, error_code
from pydantic import BaseModel

from flowpin import Engine, action
from flowpin.api import create_app
from flowpin.clock import FakeClock

CLOCK = FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


class Lookup(BaseModel):
    email: str


class Found(BaseModel):
    contactId: str


@action("crm.lookup", version=1, effect="none")
def lookup(data: Lookup) -> Found:
    """Takes 1.5 s of the test's clock, so its duration is known exactly."""
    CLOCK.advance(1.5)
    return Found(contactId=f"c-{data.email}")


FLOW = {
    "key": "onboard",
    "steps": [
        {
            "id": "find",
            "type": "action.call",
            "config": {
                "actionId": "crm.lookup",
                "version": 1,
                "inputMapping": {"email": {"$expr": "payload.email"}},
                "saveAs": "vars.contact",
            },
        },
        {"id": "signed", "type": "event.wait", "config": {"eventName": "contract.signed"}},
        {
            "id": "review",
            "type": "human.task",
            "config": {
                "title": "Check the contract",
                "assignee": "alice",
                "formSchema": {
                    "type": "object",
                    "required": ["decision"],
                    "properties": {"decision": {"enum": ["accept", "reject"]}},
                },
                "saveAs": "vars.review",
            },
        },
        {"id": "cool-off", "type": "time.wait", "config": {"durationMs": 86_400_000}},
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.review"}},
    ],
}


@pytest.fixture
def clocked(db_url: str) -> Iterator[Engine]:
    with Engine(db_url, tenant="acme", clock=CLOCK) as engine:
        engine.register(lookup)
        yield engine


@pytest.fixture
def named(clocked: Engine) -> Iterator[dict[str, Client]]:
    app = create_app(clocked)
    keys = {
        "alice": clocked.create_api_key("editor", name="alice").key,
        "ops": clocked.create_api_key("admin", name="ops").key,
        "anon": clocked.create_api_key("admin").key,
    }
    base = Client(app, keys["ops"])
    clients = {name: base.as_key(key) for name, key in keys.items()}
    yield clients
    base.close()


def _steps(client: Client, run_id: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/runs/{run_id}/steps")
    assert response.status_code == 200, response.text
    return {item["stepId"]: item for item in response.json()["items"]}


def test_history_says_when_how_long_and_who(clocked: Engine, named: dict[str, Client]) -> None:
    ops = named["ops"]
    assert ops.post("/api/workflows", json={"key": "onboard", "draft": FLOW}).status_code == 201
    assert ops.post("/api/workflows/onboard/publish").status_code == 201
    run_id = ops.post(
        "/api/runs", json={"workflow": "onboard", "payload": {"email": "x@y"}, "subject": "x@y"}
    ).json()["runId"]
    clocked.run_worker(until_idle=True)

    found = _steps(ops, run_id)["find"]
    assert found["status"] == "succeeded" and found["version"] == 1
    assert found["durationMs"] == 1500
    started = datetime.fromisoformat(found["startedAt"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(found["at"].replace("Z", "+00:00"))
    assert (ended - started).total_seconds() == 1.5

    CLOCK.advance(60)
    sent = ops.post(
        "/api/events", json={"name": "contract.signed", "key": "x@y", "eventId": "sig-1"}
    )
    assert sent.json()["resumed"] == [run_id]
    clocked.run_worker(until_idle=True)
    signed = _steps(ops, run_id)["signed"]
    assert signed["detail"] == {"eventId": "sig-1"}
    assert signed["durationMs"] == 60_000  # parked at the end of "find", resolved a minute later
    event = ops.get("/api/events/sig-1").json()
    assert [(r["runId"], r["relation"]) for r in event["runs"]] == [(run_id, "resumed")]
    assert event["runs"][0]["workflow"] == "onboard"

    alice = named["alice"]
    mine = alice.get("/api/tasks", params={"assignee": "me"}).json()["items"]
    assert [t["title"] for t in mine] == ["Check the contract"]
    assert mine[0]["workflow"] == "onboard" and mine[0]["subject"] == "x@y"
    assert named["anon"].get("/api/tasks", params={"assignee": "me"}).json()["items"] == []
    by_run = ops.get("/api/tasks", params={"runId": run_id}).json()["items"]
    assert [t["taskId"] for t in by_run] == [mine[0]["taskId"]]
    task_id = mine[0]["taskId"]
    refused = alice.post(f"/api/tasks/{task_id}/complete", json={"data": {"decision": "maybe"}})
    assert refused.status_code == 422 and error_code(refused) == "task.invalid_data"
    message = refused.json()["error"]["message"]
    assert "decision" in message and "'maybe' is not one of ['accept', 'reject']" in message
    done = alice.post(f"/api/tasks/{task_id}/complete", json={"data": {"decision": "accept"}})
    assert done.status_code == 200 and done.json()["completedBy"] == "alice"
    clocked.run_worker(until_idle=True)
    review = _steps(ops, run_id)["review"]
    assert review["detail"] == {"taskId": task_id, "completedBy": "alice"}

    view = ops.get(f"/api/runs/{run_id}").json()
    assert view["waitingFor"][0]["kind"] == "timer" and view["currentStep"] == "cool-off"
    assert ops.post(f"/api/runs/{run_id}/resume").status_code == 200
    clocked.run_worker(until_idle=True)
    steps = _steps(ops, run_id)
    assert steps["cool-off"]["detail"] == {"resumedBy": "operator", "operator": "ops"}
    assert {item["version"] for item in steps.values()} == {1}
    assert ops.get(f"/api/runs/{run_id}").json()["status"] == "SUCCEEDED"
    assert "detail" in steps["done"] and steps["done"]["detail"] is None


def test_events_list_says_what_each_event_did(clocked: Engine, named: dict[str, Client]) -> None:
    ops = named["ops"]
    assert ops.post("/api/workflows", json={"key": "onboard", "draft": FLOW}).status_code == 201
    ops.post("/api/workflows/onboard/publish")
    run_id = ops.post(
        "/api/runs", json={"workflow": "onboard", "payload": {"email": "a@b"}, "subject": "a@b"}
    ).json()["runId"]
    clocked.run_worker(until_idle=True)
    ops.post("/api/events", json={"name": "contract.signed", "key": "a@b"})
    ops.post("/api/events", json={"name": "nobody.listens", "key": "k", "ttlMs": 60_000})
    CLOCK.advance(20)

    items = {e["name"]: e for e in ops.get("/api/events").json()["items"]}
    signed, lonely = items["contract.signed"], items["nobody.listens"]
    assert signed["resumedRuns"] == [run_id] and signed["startedRuns"] == []
    assert signed["unmatched"] is False and signed["ttlLeftMs"] is None
    assert lonely["unmatched"] is True and lonely["ttlLeftMs"] == 40_000
    unmatched = ops.get("/api/events", params={"outcome": "unmatched"}).json()["items"]
    assert [e["name"] for e in unmatched] == ["nobody.listens"]
    matched = ops.get("/api/events", params={"outcome": "matched"}).json()["items"]
    assert [e["name"] for e in matched] == ["contract.signed"]
    assert ops.get("/api/events", params={"outcome": "maybe"}).status_code == 400
    later = ops.get("/api/events", params={"receivedAfter": "2999-01-01T00:00:00Z"}).json()
    assert later["items"] == []

    detail = ops.get(f"/api/events/{lonely['id']}").json()
    assert detail["runs"] == [] and detail["key"] == "k"
    missing = ops.get("/api/events/no-such-event")
    assert missing.status_code == 404 and error_code(missing) == "event.not_found"


def test_operator_actions_are_in_the_history(clocked: Engine, named: dict[str, Client]) -> None:
    ops = named["ops"]
    assert ops.post("/api/workflows", json={"key": "onboard", "draft": FLOW}).status_code == 201
    ops.post("/api/workflows/onboard/publish")
    run_id = ops.post(
        "/api/runs", json={"workflow": "onboard", "payload": {"email": "o@p"}, "subject": "o@p"}
    ).json()["runId"]
    clocked.run_worker(until_idle=True)
    assert ops.post(f"/api/runs/{run_id}/cancel").json()["status"] == "CANCELED"
    retried = named["anon"].post(f"/api/runs/{run_id}/retry", json={"fromStep": "signed"})
    assert retried.status_code == 200, retried.text
    fresh = ops.post(f"/api/runs/{run_id}/rerun").json()["runId"]

    rows = ops.get(f"/api/runs/{run_id}/steps").json()["items"]
    operator = [r for r in rows if r["stepId"] == "$operator"]
    assert [(r["type"], r["status"]) for r in operator] == [
        ("operator", "canceled"),
        ("operator", "retried"),
        ("operator", "rerun"),
    ]
    canceled, retry, rerun = (r["detail"] for r in operator)
    assert canceled == {"action": "canceled", "by": "ops"}
    assert retry["by"].startswith("key ") and retry["fromStep"] == "signed"
    assert retry["previousStatus"] == "CANCELED"
    assert rerun == {"action": "rerun", "by": "ops", "newRunId": fresh}
    assert {r["version"] for r in operator} == {1}
