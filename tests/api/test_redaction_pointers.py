"""Redaction by JSON pointers into the run envelope: a workflow's ``settings.redact`` and the
engine's ``redact_pointers`` mask those values in stored step history and in every run the API
returns; the run itself keeps the real values."""

from __future__ import annotations

from typing import Any

from apikit import Client, error_code
from pydantic import BaseModel

from flowpin import Engine
from flowpin.api import create_app
from flowpin.registry.actions import action
from flowpin.security.redaction import MASK

CARD = "4111111111111111"
SSN = "078-05-1120"


class Charge(BaseModel):
    card: str
    amount: int


class Customer(BaseModel):
    name: str
    ssn: str
    receipt: str


@action("test.charge", version=1, effect="none")
def charge(data: Charge) -> Customer:
    return Customer(name="Ann", ssn=SSN, receipt=f"charged card {data.card}")


def _workflow(redact: list[str] | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "key": "pay",
        "steps": [
            {
                "id": "charge",
                "type": "action.call",
                "config": {
                    "actionId": "test.charge",
                    "version": 1,
                    "inputMapping": {
                        "card": {"$expr": "payload.card.number"},
                        "amount": {"$expr": "payload.amount"},
                    },
                    "saveAs": "vars.customer",
                },
            },
            {"id": "end", "type": "control.return", "output": {"$expr": "vars.customer"}},
        ],
    }
    if redact is not None:
        document["settings"] = {"redact": redact}
    return document


def _paid_run(client: Client, engine: Engine, redact: list[str] | None) -> tuple[str, str]:
    engine.register(charge)
    created = client.post("/api/workflows", json={"key": "pay", "draft": _workflow(redact)})
    assert created.status_code == 201, created.text
    assert client.post("/api/workflows/pay/publish").status_code == 201
    started = client.post(
        "/api/runs",
        json={"workflow": "pay", "payload": {"card": {"number": CARD, "cvc": "1"}, "amount": 7}},
    )
    assert started.status_code == 201, started.text
    if redact:
        assert CARD not in started.text
    run_id = started.json()["runId"]
    engine.run_worker(until_idle=True)
    return run_id, client.get(f"/api/runs/{run_id}/steps").text


def test_workflow_pointers_mask_returned_runs_and_stored_history(
    client: Client, engine: Engine
) -> None:
    run_id, steps = _paid_run(client, engine, ["/payload/card/number", "/vars/customer/ssn"])
    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "SUCCEEDED"
    assert run["state"]["payload"] == {"card": {"number": MASK, "cvc": "1"}, "amount": 7}
    assert run["state"]["vars"]["customer"] == {
        "name": "Ann",
        "ssn": MASK,
        "receipt": f"charged card {MASK}",
    }
    assert run["output"]["ssn"] == MASK and run["output"]["name"] == "Ann"
    assert CARD not in steps and SSN not in steps and "Ann" in steps
    for stored in engine.history(run_id):  # masked when written
        assert CARD not in str(stored) and SSN not in str(stored)
    real = engine.get_run(run_id)  # the run keeps its real values
    assert real["state"]["payload"]["card"]["number"] == CARD
    assert real["output"]["ssn"] == SSN


def test_engine_pointers_apply_to_every_workflow(db_url: str, keys: dict[str, str]) -> None:
    with Engine(db_url, tenant="acme", redact_pointers=["/vars/customer/ssn"]) as engine:
        client = Client(create_app(engine), keys["admin"])
        try:
            run_id, steps = _paid_run(client, engine, None)
            run = client.get(f"/api/runs/{run_id}").json()
            assert run["output"]["ssn"] == MASK
            assert run["state"]["payload"]["card"]["number"] == CARD  # not configured
            assert SSN not in steps
        finally:
            client.close()


def test_a_bad_pointer_is_refused_with_a_clear_error(client: Client) -> None:
    for bad, words in (
        ("payload/card", "must start with '/'"),
        ("/payload/a~2b", "'~' must be followed by 0 or 1"),
        ("/secrets/x", "must point inside the run envelope"),
    ):
        response = client.post("/api/workflows", json={"key": "pay", "draft": _workflow([bad])})
        if response.status_code < 400:  # drafts may be saved incomplete: publishing checks
            response = client.post("/api/workflows/pay/publish")
        assert response.status_code in (400, 422), response.text
        assert words in response.text, response.text
        assert error_code(response)
        client.delete("/api/workflows/pay")
