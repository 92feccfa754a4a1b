"""``POST /api/runs/{id}/retry`` with ``dryRun``: the preview of what a retry would call again,
with nothing changed."""

from __future__ import annotations

from apikit import Client
from pydantic import BaseModel

from flowpin import Engine
from flowpin.registry.actions import ActionError, action


class Amount(BaseModel):
    amount: int


@action("api.charge", version=1, effect="side_effect")
def declined(data: Amount) -> None:
    raise ActionError("card declined", retryable=False)


CHARGE = {
    "key": "charge",
    "steps": [
        {
            "id": "charge",
            "type": "action.call",
            "config": {"actionId": "api.charge", "version": 1, "inputMapping": {"amount": 3}},
        },
    ],
}


def test_dry_run_returns_the_preview_and_the_run_stays_failed(
    client: Client, engine: Engine, keys: dict[str, str]
) -> None:
    engine.register(declined)
    engine.publish(CHARGE)
    run_id = client.post("/api/runs", json={"workflow": "charge"}).json()["runId"]
    engine.run_worker(until_idle=True)
    before = client.get(f"/api/runs/{run_id}").json()
    assert before["status"] == "FAILED"

    preview = client.post(f"/api/runs/{run_id}/retry", json={"dryRun": True})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["runId"] == run_id and body["fromStep"] == ["charge"]
    [item] = body["actions"]
    assert item["stepId"] == "charge" and item["actionId"] == "api.charge"
    assert item["effect"] == "side_effect" and item["reason"] == "restarts here"
    assert item["answeredByLedger"] is False
    assert client.get(f"/api/runs/{run_id}").json() == before

    from_step = client.post(
        f"/api/runs/{run_id}/retry", json={"dryRun": True, "fromStep": "charge"}
    )
    assert from_step.status_code == 200 and from_step.json()["fromStep"] == ["charge"]
    unknown = client.post(f"/api/runs/{run_id}/retry", json={"dryRun": True, "fromStep": "x"})
    assert unknown.status_code == 404
    editor = client.as_key(keys["editor"])  # a retry's role is needed
    assert editor.post(f"/api/runs/{run_id}/retry", json={"dryRun": True}).status_code == 403
    assert client.get(f"/api/runs/{run_id}").json() == before

    retried = client.post(f"/api/runs/{run_id}/retry", json={"dryRun": False})
    assert retried.status_code == 200 and retried.json()["status"] == "RUNNING"
