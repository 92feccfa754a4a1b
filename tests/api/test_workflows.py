"""Workflows through HTTP: create, list, draft, validate, publish, versions, layout, settings,
duplicate, delete, cancel-all."""

from __future__ import annotations

import copy

from apikit import TASKER, WAITER, Client, error_code

from flowpin import Engine


def test_create_get_list_and_page(client: Client) -> None:
    created = client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    assert created.status_code == 201, created.text
    assert created.json()["draftRevision"] == 1
    assert created.json()["draft"]["steps"] == WAITER["steps"]
    assert error_code(client.post("/api/workflows", json={"key": "waiter"})) == "workflow.exists"
    assert client.post("/api/workflows", json={"key": "waiter"}).status_code == 409
    bad = client.post("/api/workflows", json={"key": "Not A Key"})
    assert bad.status_code == 400 and error_code(bad) == "workflow.bad_key"
    assert client.post("/api/workflows", json={"nokey": 1}).status_code == 400
    for key in ("alpha", "beta", "gamma"):
        assert client.post("/api/workflows", json={"key": key, "name": key.upper()}).status_code
    got = client.get("/api/workflows/waiter").json()
    assert got["key"] == "waiter" and got["name"] == "Waits for go"
    assert got["latestVersion"] is None and got["layout"] == {}
    assert client.get("/api/workflows/nope").status_code == 404

    first = client.get("/api/workflows", params={"limit": 2}).json()
    assert [w["key"] for w in first["items"]] == ["alpha", "beta"]
    rest = client.get("/api/workflows", params={"limit": 2, "cursor": first["nextCursor"]}).json()
    assert [w["key"] for w in rest["items"]] == ["gamma", "waiter"]
    assert rest["nextCursor"] is None
    found = client.get("/api/workflows", params={"search": "WAITS"}).json()["items"]
    assert [w["key"] for w in found] == ["waiter"]
    assert client.get("/api/workflows", params={"cursor": "%%%"}).status_code == 400


def test_draft_validate_publish_versions(client: Client) -> None:
    client.post("/api/workflows", json={"key": "waiter"})
    saved = client.put("/api/workflows/waiter/draft", json={"draft": WAITER, "expectedRevision": 1})
    assert saved.status_code == 200, saved.text
    assert saved.json()["revision"] == 2
    stale = client.put("/api/workflows/waiter/draft", json={"draft": WAITER, "expectedRevision": 1})
    assert stale.status_code == 409 and error_code(stale) == "draft.conflict"
    wrong_key = client.put(
        "/api/workflows/waiter/draft", json={"draft": {**WAITER, "key": "x"}, "expectedRevision": 2}
    )
    assert wrong_key.status_code == 400
    assert client.put("/api/workflows/nope/draft", json={"draft": WAITER}).status_code == 404

    checked = client.post("/api/workflows/waiter/validate").json()
    assert checked == {"valid": True, "problems": checked["problems"]}
    broken = copy.deepcopy(WAITER)
    broken["steps"].append({"id": "wait", "type": "state.set", "config": {"state": "X"}})
    invalid = client.post("/api/workflows/waiter/validate", json={"definition": broken}).json()
    assert invalid["valid"] is False and invalid["problems"]

    refused = client.post("/api/workflows/waiter/publish", json={"definition": broken})
    assert refused.status_code == 422
    assert error_code(refused) == "definition.invalid"
    assert isinstance(refused.json()["error"]["details"], list)
    assert refused.json()["error"]["details"][0]["code"]

    published = client.post("/api/workflows/waiter/publish")
    assert published.status_code == 201, published.text
    body = published.json()
    assert body["version"] == 1 and len(body["hash"]) == 64 and body["created"] is True
    again = client.post("/api/workflows/waiter/publish")
    assert again.status_code == 200 and again.json()["version"] == 1
    changed = copy.deepcopy(WAITER)
    changed["name"] = "Waits, v2"
    assert (
        client.post("/api/workflows/waiter/publish", json={"definition": changed}).json()["version"]
        == 2
    )

    versions = client.get("/api/workflows/waiter/versions").json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    v1 = client.get("/api/workflows/waiter/versions/1").json()
    assert v1["hash"] == body["hash"] and v1["definition"]["key"] == "waiter"
    missing = client.get("/api/workflows/waiter/versions/9")
    assert missing.status_code == 404 and error_code(missing) == "version.not_found"
    assert client.get("/api/workflows/waiter").json()["latestVersion"] == 2


def test_layout_settings_duplicate(client: Client) -> None:
    client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    layout = {"mark": {"x": 10, "y": 20}, "wait": {"x": 10, "y": 120}}
    assert client.put("/api/workflows/waiter/layout", json={"layout": layout}).json() == {
        "layout": layout
    }
    assert client.get("/api/workflows/waiter/layout").json() == {"layout": layout}
    assert client.put("/api/workflows/nope/layout", json={"layout": {}}).status_code == 404

    patched = client.patch(
        "/api/workflows/waiter", json={"paused": True, "concurrencyLimit": 5, "name": "Renamed"}
    ).json()
    assert (patched["paused"], patched["concurrencyLimit"], patched["name"]) == (
        True,
        5,
        "Renamed",
    )
    cleared = client.patch("/api/workflows/waiter", json={"concurrencyLimit": None}).json()
    assert cleared["concurrencyLimit"] is None and cleared["paused"] is True
    assert client.patch("/api/workflows/waiter", json={"concurrencyLimit": 0}).status_code == 400

    copied = client.post("/api/workflows/waiter/duplicate", json={"key": "waiter-copy"})
    assert copied.status_code == 201, copied.text
    assert copied.json()["draft"]["key"] == "waiter-copy"
    assert copied.json()["draft"]["steps"] == WAITER["steps"]
    assert copied.json()["layout"] == layout
    assert copied.json()["latestVersion"] is None
    again = client.post("/api/workflows/waiter/duplicate", json={"key": "waiter-copy"})
    assert again.status_code == 409


def test_delete_refused_while_runs_are_active_then_cancel_all(client: Client) -> None:
    client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    client.post("/api/workflows/waiter/publish")
    client.post("/api/workflows", json={"key": "approve", "draft": TASKER})
    client.post("/api/workflows/approve/publish")
    runs = [
        client.post("/api/runs", json={"workflow": "waiter", "subject": f"s{i}"}).json()["runId"]
        for i in range(3)
    ]
    other = client.post("/api/runs", json={"workflow": "approve"}).json()["runId"]
    refused = client.delete("/api/workflows/waiter")
    assert refused.status_code == 409 and error_code(refused) == "workflow.has_active_runs"
    canceled = client.post("/api/workflows/waiter/runs/cancel-all").json()["canceled"]
    assert sorted(canceled) == sorted(runs)
    for run_id in runs:
        assert client.get(f"/api/runs/{run_id}").json()["status"] == "CANCELED"
    assert client.get(f"/api/runs/{other}").json()["status"] != "CANCELED"
    assert client.delete("/api/workflows/waiter").status_code == 204
    assert client.get("/api/workflows/waiter").status_code == 404
    assert client.get(f"/api/runs/{runs[0]}").status_code == 404
    assert client.post("/api/workflows/nope/runs/cancel-all").status_code == 404


def test_step_counts(client: Client, engine: Engine) -> None:
    client.post("/api/workflows", json={"key": "waiter", "draft": WAITER})
    client.post("/api/workflows/waiter/publish")
    for subject in ("a", "b"):
        client.post("/api/runs", json={"workflow": "waiter", "subject": subject})
    engine.run_worker(until_idle=True)
    client.post("/api/runs", json={"workflow": "waiter", "subject": "c"})
    counts = client.get("/api/workflows/waiter/counts").json()
    assert counts["total"]["active"] == 3
    steps = counts["byVersion"]["1"]["steps"]
    assert steps["wait"]["waiting"] == 2 and steps["wait"]["waitingByKind"]["event"] == 2
    assert sum(c["running"] for c in steps.values()) == 1
    assert client.get("/api/workflows/nope/counts").status_code == 404


def test_publish_refuses_a_schedule_with_a_bad_catch_up_saying_where(client: Client) -> None:
    """A 422 naming the field, never a 500; the good values publish."""

    def with_trigger(**fields: object) -> dict:
        trigger = {"type": "schedule", "cron": "0 9 * * *", **fields}
        return {**WAITER, "key": "nightly", "triggers": [trigger]}

    client.post("/api/workflows", json={"key": "nightly"})
    for fields, path in (
        ({"catchUp": "sometimes"}, "triggers[0].catchUp"),
        ({"catchUp": None}, "triggers[0].catchUp"),
        ({"catchUpWindowMs": 0}, "triggers[0].catchUpWindowMs"),
        ({"catchUpWindowMs": -1}, "triggers[0].catchUpWindowMs"),
        ({"catchUpWindowMs": 10**15}, "triggers[0].catchUpWindowMs"),
        ({"catchUpWindowMs": "an hour"}, "triggers[0].catchUpWindowMs"),
    ):
        refused = client.post(
            "/api/workflows/nightly/publish", json={"definition": with_trigger(**fields)}
        )
        assert refused.status_code == 422, (fields, refused.text)
        assert error_code(refused) == "definition.invalid"
        [problem] = refused.json()["error"]["details"]
        assert problem["path"] == path and "catchUp" in problem["message"], problem
    good = with_trigger(catchUp="all", catchUpWindowMs=7 * 24 * 3600 * 1000)
    published = client.post("/api/workflows/nightly/publish", json={"definition": good})
    assert published.status_code == 201, published.text
