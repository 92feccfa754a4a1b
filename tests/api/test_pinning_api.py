"""Pinning through HTTP: a run in flight keeps executing the version it started on while the
workflow is edited (draft saved, new version published, next draft saved); new runs take the
latest version, never the draft."""

from __future__ import annotations

import copy
from typing import Any

from apikit import Client

from flowpin import Engine

V1: dict[str, Any] = {
    "key": "offer",
    "steps": [
        {"id": "go", "type": "event.wait", "config": {"eventName": "go"}},
        {
            "id": "price",
            "type": "transform.assign",
            "config": {"assign": {"vars.discount": 10}},
        },
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.discount"}},
    ],
}


def _with_discount(value: int) -> dict[str, Any]:
    document = copy.deepcopy(V1)
    document["steps"][1]["config"]["assign"]["vars.discount"] = value
    return document


def _start(client: Client, subject: str) -> str:
    started = client.post("/api/runs", json={"workflow": "offer", "subject": subject})
    assert started.status_code == 201, started.text
    return str(started.json()["runId"])


def test_runs_in_flight_keep_their_version_through_edits(client: Client, engine: Engine) -> None:
    client.post("/api/workflows", json={"key": "offer", "draft": V1})
    assert client.post("/api/workflows/offer/publish").status_code == 201
    old = _start(client, "old")
    engine.run_worker(until_idle=True)

    edited = client.put(
        "/api/workflows/offer/draft", json={"draft": _with_discount(50)}, headers={"If-Match": "1"}
    )
    assert edited.status_code == 200, edited.text
    published = client.post("/api/workflows/offer/publish", headers={"If-Match": '"2"'})
    assert published.status_code == 201 and published.json()["version"] == 2
    new = _start(client, "new")
    engine.run_worker(until_idle=True)
    # A further edit, saved but not published: no run may see it.
    draft = client.put(
        "/api/workflows/offer/draft", json={"draft": _with_discount(99)}, headers={"If-Match": "2"}
    )
    assert draft.status_code == 200
    counts = client.get("/api/workflows/offer/counts").json()
    assert counts["activeOnOlderVersions"] == 1 and counts["latestVersion"] == 2

    for subject in ("old", "new"):
        sent = client.post("/api/events", json={"name": "go", "key": subject})
        assert sent.status_code in (200, 201, 202), sent.text
    engine.run_worker(until_idle=True)

    in_flight = client.get(f"/api/runs/{old}").json()
    assert (in_flight["version"], in_flight["status"], in_flight["output"]) == (
        1,
        "SUCCEEDED",
        10,
    )
    steps = client.get(f"/api/runs/{old}/steps").json()
    rows = steps["items"] if isinstance(steps, dict) else steps
    assert {row["version"] for row in rows} == {1}
    fresh = client.get(f"/api/runs/{new}").json()
    assert (fresh["version"], fresh["output"]) == (2, 50)
