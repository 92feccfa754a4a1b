"""Trying a draft (``POST /api/workflows/{key}/try``): the draft runs in a sandbox on a sample
payload - actions without side effects for real, the others from sample outputs, waits and tasks
from answers - and nothing is written to the caller's database."""

from __future__ import annotations

from typing import Any

from apikit import Client
from pydantic import BaseModel

from flowpin import Engine
from flowpin.registry import action

SENT: list[str] = []


class Total(BaseModel):
    amount: int


class Band(BaseModel):
    band: str


class Mail(BaseModel):
    to: str


class Sent(BaseModel):
    messageId: str


@action("demo.band", version=1, effect="none")
def band(input: Total) -> Band:
    """Classify an amount (no side effects)."""
    return Band(band="large" if input.amount > 100 else "small")


@action("demo.mail", version=1, effect="side_effect")
def mail(input: Mail) -> Sent:
    """Send an email (a side effect: never called by a trial)."""
    SENT.append(input.to)
    return Sent(messageId="real")


DRAFT: dict[str, Any] = {
    "key": "trial",
    "steps": [
        {
            "id": "classify",
            "type": "action.call",
            "config": {
                "actionId": "demo.band",
                "version": 1,
                "inputMapping": {"amount": {"$expr": "payload.amount"}},
                "saveAs": "vars.band",
            },
        },
        {
            "id": "big",
            "type": "control.if",
            "condition": {"field": "vars.band.band", "op": "equals", "value": "large"},
            "then": [
                {"id": "approval", "type": "event.wait", "config": {"eventName": "approved"}},
                {
                    "id": "tell",
                    "type": "action.call",
                    "config": {
                        "actionId": "demo.mail",
                        "version": 1,
                        "inputMapping": {"to": "boss@example.com"},
                        "saveAs": "vars.mail",
                    },
                },
            ],
            "else": [{"id": "small", "type": "state.set", "config": {"state": "SMALL"}}],
        },
        {"id": "pause", "type": "time.wait", "config": {"durationMs": 86_400_000}},
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.band.band"}},
    ],
}


def _setup(engine: Engine, client: Client) -> None:
    engine.register(band, mail)
    assert client.post("/api/workflows", json={"key": "trial", "draft": DRAFT}).status_code == 201


def test_a_trial_takes_the_branch_and_skips_timers(engine: Engine, client: Client) -> None:
    _setup(engine, client)
    trial = client.post("/api/workflows/trial/try", json={"payload": {"amount": 5}}).json()
    assert trial["status"] == "SUCCEEDED"
    assert trial["output"] == "small"
    taken = [step["stepId"] for step in trial["steps"]]
    assert taken[:3] == ["classify", "big", "small"] and "approval" not in taken
    classify = next(step for step in trial["steps"] if step["stepId"] == "classify")
    assert classify["input"] == {"amount": 5} and classify["output"] == {"band": "small"}


def test_a_trial_stops_at_an_unanswered_wait_then_needs_a_sample_output(
    engine: Engine, client: Client
) -> None:
    _setup(engine, client)
    body: dict[str, Any] = {"payload": {"amount": 500}}
    parked = client.post("/api/workflows/trial/try", json=body).json()
    assert parked["status"] == "WAITING"
    assert parked["waitingAt"] == {"stepId": "approval", "kind": "event", "eventName": "approved"}

    body["answers"] = {"approval": {"by": "ann"}}
    needs = client.post("/api/workflows/trial/try", json=body).json()
    assert needs["status"] == "FAILED"
    assert needs["needsOutput"] == {"stepId": "tell", "actionId": "demo.mail", "version": 1}

    body["outputs"] = {"demo.mail@1": {"messageId": "sample"}}
    done = client.post("/api/workflows/trial/try", json=body).json()
    assert done["status"] == "SUCCEEDED", done
    assert done["vars"]["mail"] == {"messageId": "sample"}
    assert SENT == []  # the side effect never ran
    assert client.get("/api/runs").json()["items"] == []  # nothing stored
    assert client.get("/api/workflows/trial/versions").json()["items"] == []


def test_an_answer_the_wait_refuses_is_asked_for_again(engine: Engine, client: Client) -> None:
    """A wait's filter that refuses the given answer leaves the trial at that wait, saying so
    (before, the answer was resent 200 times and the trial ended WAITING at no step)."""
    engine.register(band, mail)
    wait = {
        "id": "opened",
        "type": "event.wait",
        "config": {
            "eventName": "email.opened",
            "filter": {"field": "event.payload.kind", "op": "equals", "value": "open"},
        },
    }
    draft = {"key": "picky", "steps": [wait, {"id": "done", "type": "control.return", "output": 1}]}
    assert client.post("/api/workflows", json={"key": "picky", "draft": draft}).status_code == 201
    body: dict[str, Any] = {"payload": {}, "answers": {"opened": {"kind": "closed"}}}
    refused = client.post("/api/workflows/picky/try", json=body).json()
    assert refused["status"] == "WAITING"
    assert refused["waitingAt"] == {
        "stepId": "opened",
        "kind": "event",
        "eventName": "email.opened",
        "answerRefused": True,
    }
    body["answers"] = {"opened": {"kind": "open"}}
    assert client.post("/api/workflows/picky/try", json=body).json()["status"] == "SUCCEEDED"


def test_trying_an_invalid_draft_lists_its_problems(engine: Engine, client: Client) -> None:
    _setup(engine, client)
    broken = {
        **DRAFT,
        "steps": [
            {
                "id": "x",
                "type": "action.call",
                "config": {"actionId": "nope", "version": 1, "inputMapping": {}},
            }
        ],
    }
    response = client.post("/api/workflows/trial/try", json={"definition": broken, "payload": {}})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["stepId"] == "x"


def test_a_viewer_cannot_try(client: Client, keys: dict[str, str], engine: Engine) -> None:
    _setup(engine, client)
    response = client.as_key(keys["viewer"]).post("/api/workflows/trial/try", json={})
    assert response.status_code == 403
