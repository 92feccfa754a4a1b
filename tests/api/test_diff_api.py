"""`GET /api/workflows/{key}/diff`: what changes between two versions (or a version and the
draft), with the runs in flight on the first at, before and after each change."""

from __future__ import annotations

import copy
from typing import Any

from apikit import Client, error_code

from flowpin import Engine

V1: dict[str, Any] = {
    "key": "journey",
    "steps": [
        {"id": "hello", "type": "state.set", "config": {"state": "NEW"}},
        {
            "id": "route",
            "type": "control.if",
            "condition": {"$expr": "payload.fast = true"},
            "then": [{"id": "ask", "type": "event.wait", "config": {"eventName": "answer"}}],
            "else": [{"id": "pause", "type": "time.wait", "config": {"durationMs": 3600000}}],
        },
        {"id": "done", "type": "control.return", "output": {"$expr": "payload"}},
    ],
}


def _v2() -> dict[str, Any]:
    v2 = copy.deepcopy(V1)
    steps = v2["steps"]
    steps[0]["config"]["state"] = "FRESH"  # every run is past it
    steps[1]["then"] = []  # ask removed while runs wait there
    steps[1]["else"][0]["config"]["durationMs"] = 60000  # runs are parked in it
    steps.insert(2, {"id": "nudge", "type": "state.set", "config": {"state": "NUDGED"}})
    return v2


def _park_runs(client: Client, engine: Engine) -> None:
    client.post("/api/workflows", json={"key": "journey", "draft": V1})
    assert client.post("/api/workflows/journey/publish").status_code == 201
    for index, fast in enumerate([True, True, False, False, False]):
        body = {"workflow": "journey", "subject": f"c-{index}", "payload": {"fast": fast}}
        assert client.post("/api/runs", json=body).status_code == 201
    engine.run_worker(until_idle=True)


def _by_step(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["stepId"], c["change"]): c for c in body["changes"]}


def test_diff_against_the_draft_counts_the_runs_in_flight(client: Client, engine: Engine) -> None:
    _park_runs(client, engine)
    saved = client.put("/api/workflows/journey/draft", json={"draft": _v2(), "expectedRevision": 1})
    assert saved.status_code == 200, saved.text

    response = client.get("/api/workflows/journey/diff", params={"from": 1, "to": "draft"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["activeRuns"]) == (1, "draft", 5)
    changes = _by_step(body)
    assert set(changes) == {
        ("hello", "changed"),
        ("ask", "removed"),
        ("pause", "changed"),
        ("nudge", "added"),
    }
    hello = changes[("hello", "changed")]
    assert hello["fields"] == [
        {"path": "config.state", "kind": "config", "from": "NEW", "to": "FRESH"}
    ]
    assert (hello["runs"], hello["classification"]) == (
        {"at": 0, "before": 0, "after": 5},
        "safe",
    )
    ask = changes[("ask", "removed")]
    assert ask["runs"] == {"at": 2, "before": 0, "after": 3}
    assert ask["classification"] == "needs-mapping"
    pause = changes[("pause", "changed")]
    assert pause["fields"][0]["path"] == "config.durationMs"
    assert pause["runs"] == {"at": 3, "before": 0, "after": 2}
    assert pause["classification"] == "affects-in-flight"
    nudge = changes[("nudge", "added")]
    assert nudge["to"]["index"] == 2 and nudge["from"] is None
    assert nudge["runs"] == {"at": 0, "before": 5, "after": 0}
    assert nudge["classification"] == "affects-in-flight"
    assert body["summary"] == {
        "changes": 4,
        "added": 1,
        "removed": 1,
        "changed": 2,
        "moved": 0,
        "typeChanged": 0,
        "safe": 1,
        "affects-in-flight": 2,
        "needs-mapping": 1,
    }

    # Published, the draft is version 2: the same diff between versions; defaults are
    # from = the latest version and to = the draft (now identical to it).
    assert client.post("/api/workflows/journey/publish").status_code == 201
    between = client.get("/api/workflows/journey/diff?from=1&to=2").json()
    assert between["to"] == 2 and between["changes"] == body["changes"]
    latest_vs_draft = client.get("/api/workflows/journey/diff").json()
    assert (latest_vs_draft["from"], latest_vs_draft["to"]) == (2, "draft")
    assert latest_vs_draft["changes"] == [] and latest_vs_draft["activeRuns"] == 0


def test_diff_refuses_what_it_cannot_compare(client: Client, engine: Engine) -> None:
    _park_runs(client, engine)
    bad = client.get("/api/workflows/journey/diff?from=draft&to=1")
    assert bad.status_code == 400 and error_code(bad) == "diff.bad_version"
    assert error_code(client.get("/api/workflows/journey/diff?from=1&to=x")) == "diff.bad_version"
    missing = client.get("/api/workflows/journey/diff?from=1&to=9")
    assert missing.status_code == 404 and error_code(missing) == "version.not_found"
    assert client.get("/api/workflows/nope/diff?from=1").status_code == 404
    shapeless = {"key": "journey", "steps": [{"id": "x"}]}
    client.put("/api/workflows/journey/draft", json={"draft": shapeless, "expectedRevision": 1})
    broken = client.get("/api/workflows/journey/diff?from=1&to=draft")
    assert broken.status_code == 422 and error_code(broken) == "definition.invalid"
