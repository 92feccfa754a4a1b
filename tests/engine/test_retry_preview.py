"""An operator's retry preview (SPEC §4.6): which action calls a retry would make again, before
it is done, and nothing written meanwhile."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

import sample_actions
from flowpin.engine import Engine
from flowpin.errors import ConflictError, NotFoundError
from flowpin.registry.actions import ActionContext, ActionError, action

CHARGES: list[str] = []
DECLINE = {"on": True}


class Charge(BaseModel):
    amount: int


class Charged(BaseModel):
    ok: bool


@action("test.charge", version=1, effect="side_effect")
def charge(data: Charge, ctx: ActionContext) -> Charged:
    CHARGES.append(ctx.idempotency_key)
    if DECLINE["on"]:
        raise ActionError("card declined", retryable=False)
    return Charged(ok=True)


def call(step_id: str, action_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    config = {"actionId": action_id, "version": 1, "inputMapping": inputs}
    return {"id": step_id, "type": "action.call", "config": config}


ORDER = {
    "key": "order",
    "steps": [
        call("reserve", "crm.create_ticket", {"subject": "hold"}),
        call("charge", "test.charge", {"amount": {"$expr": "payload.amount"}}),
        {
            "id": "maybe",
            "type": "control.if",
            "condition": {"$expr": "payload.notify = true"},
            "then": [call("notify", "crm.create_ticket", {"subject": "paid"})],
        },
        {
            "id": "each",
            "type": "control.forEach",
            "items": {"$expr": "payload.lines"},
            "body": [call("ping", "test.echo", {"text": "line"})],
        },
        call("log", "test.echo", {"text": "done"}),
    ],
}


@pytest.fixture
def failed(harness) -> tuple[Any, str]:
    """A run of ORDER whose side-effecting ``charge`` failed after ``reserve`` succeeded."""
    CHARGES.clear()
    DECLINE["on"] = True
    harness.engine.register(charge)
    run = harness.run(ORDER, {"amount": 5, "notify": True, "lines": [1]})
    assert run["status"] == "FAILED" and run["error"]["message"] == "card declined"
    return harness, run["runId"]


def by_step(preview: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["stepId"]: item for item in preview["actions"]}


def test_preview_of_the_failed_step_lists_it_and_what_follows(failed) -> None:
    harness, run_id = failed
    preview = harness.engine.retry_preview(run_id)
    assert preview["runId"] == run_id and preview["fromStep"] == ["charge"]
    assert [item["stepId"] for item in preview["actions"]] == ["charge", "notify", "ping", "log"]
    items = by_step(preview)
    assert items["charge"]["reason"] == "restarts here"
    assert items["charge"]["effect"] == "side_effect"
    assert items["charge"]["actionId"] == "test.charge" and items["charge"]["version"] == 1
    assert items["charge"]["answeredByLedger"] is False  # it failed: the retry calls it
    route = "inside a branch after the restart point: depends on the route"
    assert items["notify"]["reason"] == route and items["notify"]["effect"] == "side_effect"
    assert items["ping"]["reason"] == route and items["ping"]["answeredByLedger"] is None
    assert items["log"]["reason"] == "after the restart point"
    assert items["log"]["effect"] == "none" and items["log"]["answeredByLedger"] is False

    # The preview is what the retry does: the failed call is made again under the same key.
    DECLINE["on"] = False
    harness.engine.retry(run_id)
    harness.work()
    assert harness.engine.get_run(run_id)["status"] == "SUCCEEDED"
    key = items["charge"]["idempotencyKey"]
    assert len(CHARGES) == 2 and set(CHARGES) == {key}
    tickets = [c for c in sample_actions.CALLS if c["action"] == "create_ticket"]
    assert [c["subject"] for c in tickets] == ["hold", "paid"]  # reserve was not called again
    assert tickets[1]["key"] == items["notify"]["idempotencyKey"]


def test_preview_from_an_earlier_side_effect_says_it_runs_again(failed) -> None:
    harness, run_id = failed
    [first] = [c for c in sample_actions.CALLS if c["action"] == "create_ticket"]
    preview = harness.engine.retry_preview(run_id, from_step="reserve")
    assert preview["fromStep"] == ["reserve"]
    assert [item["stepId"] for item in preview["actions"]][:2] == ["reserve", "charge"]
    reserve = by_step(preview)["reserve"]
    assert reserve["reason"] == "restarts here" and reserve["effect"] == "side_effect"
    assert reserve["answeredByLedger"] is False  # a new key: the ticket is created again
    assert reserve["idempotencyKey"] != first["key"]
    assert by_step(preview)["charge"]["reason"] == "after the restart point"

    DECLINE["on"] = False
    harness.engine.retry(run_id, from_step="reserve")
    harness.work()
    tickets = [c for c in sample_actions.CALLS if c["action"] == "create_ticket"]
    assert [c["key"] for c in tickets[:2]] == [first["key"], reserve["idempotencyKey"]]


def test_preview_writes_nothing(failed) -> None:
    harness, run_id = failed
    engine = harness.engine
    before = (engine.get_run(run_id), engine.history(run_id))
    engine.retry_preview(run_id)
    engine.retry_preview(run_id, from_step="reserve")
    assert (engine.get_run(run_id), engine.history(run_id)) == before
    assert engine.get_run(run_id)["status"] == "FAILED"
    harness.work()
    assert len(CHARGES) == 1


def test_preview_refuses_what_retry_refuses(failed) -> None:
    harness, run_id = failed
    engine = harness.engine
    with pytest.raises(NotFoundError):
        engine.retry_preview(run_id, from_step="nope")
    with pytest.raises(ConflictError):
        engine.retry_preview(run_id, from_step="ping")  # inside the forEach
    with pytest.raises(NotFoundError):
        engine.retry_preview("no-such-run")
    engine.retry(run_id)
    with pytest.raises(ConflictError):
        engine.retry_preview(run_id)  # running again, not finished


def test_effect_unknown_when_the_action_is_not_registered_here(failed, db_url: str) -> None:
    _, run_id = failed
    with Engine(db_url) as other:  # same database, a registry without test.charge
        preview = other.retry_preview(run_id)
    assert by_step(preview)["charge"]["effect"] == "unknown"
    assert by_step(preview)["log"]["effect"] == "unknown"


def test_a_failed_loop_item_restarts_there_and_later_items_depend_on_the_route(harness) -> None:
    CHARGES.clear()
    DECLINE["on"] = True
    harness.engine.register(charge)
    definition = {
        "key": "lines",
        "steps": [
            {
                "id": "each",
                "type": "control.forEach",
                "items": {"$expr": "payload.lines"},
                "concurrency": 1,
                "body": [
                    call("bill", "test.charge", {"amount": 1}),
                    call("note", "test.echo", {"text": "billed"}),
                ],
            },
        ],
    }
    run = harness.run(definition, {"lines": [1, 2, 3]})
    assert run["status"] == "FAILED" and run["error"]["message"] == "card declined"
    preview = harness.engine.retry_preview(run["runId"])
    assert preview["fromStep"] == ["each[0]/bill"]
    listed = [(a["stepId"], a["token"], a["reason"]) for a in preview["actions"]]
    route = "inside a branch after the restart point: depends on the route"
    assert listed == [
        ("bill", "each[0]/bill", "restarts here"),
        ("bill", None, route),  # items 1 and 2 have not started: their keys are new
        ("note", "each[0]/note", "after the restart point"),
        ("note", None, route),
    ]
    DECLINE["on"] = False
    harness.engine.retry(run["runId"])
    harness.work()
    done = harness.engine.get_run(run["runId"])
    assert done["status"] == "SUCCEEDED", done["error"]
    assert CHARGES[1] == preview["actions"][0]["idempotencyKey"] == CHARGES[0]
    assert len(set(CHARGES)) == 3
