"""``POST /api/workflows/{key}/shadow``: a version against recorded runs, nothing written."""

from __future__ import annotations

from apikit import WAITER, Client, error_code

from flowpin import Engine

URL = "/api/workflows/waiter/shadow"
CHECKED = {
    **WAITER,
    "steps": [
        *WAITER["steps"][:2],
        {
            "id": "check",
            "type": "control.if",
            "condition": {"field": "vars.go.ok", "op": "equals", "value": True},
            "then": [
                {"id": "yes", "type": "transform.assign", "config": {"assign": {"vars.r": "yes"}}}
            ],
            "else": [
                {"id": "no", "type": "transform.assign", "config": {"assign": {"vars.r": "no"}}}
            ],
        },
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.r"}},
    ],
}


def test_shadow_reports_per_run_and_writes_nothing(client: Client, engine: Engine) -> None:
    engine.publish(CHECKED)
    run_id = engine.start("waiter", {"n": 1}, subject="s1")
    engine.run_worker(until_idle=True)
    engine.send_event("go", "s1", {"ok": True})
    engine.run_worker(until_idle=True)
    flipped = dict(CHECKED)
    flipped["steps"] = [
        *CHECKED["steps"][:2],
        {
            **CHECKED["steps"][2],
            "condition": {"field": "vars.go.ok", "op": "equals", "value": False},
        },
        CHECKED["steps"][3],
    ]
    engine.publish(flipped)
    before = client.get(f"/api/runs/{run_id}/steps").json()

    answer = client.post(URL, json={"version": 2, "runs": [run_id]})
    assert answer.status_code == 200, answer.text
    [run] = answer.json()["runs"]
    assert run["result"] == "diverges" and run["recordedVersion"] == 1
    assert run["divergence"]["stepId"] == "check"
    assert run["divergence"]["expected"]["output"] == {"branch": "else"}
    assert run["divergence"]["actual"]["output"] == {"branch": "then"}
    last = client.post(URL, json={"version": 1, "runs": {"last": 5}}).json()
    assert [r["result"] for r in last["runs"]] == ["same"]
    assert client.get(f"/api/runs/{run_id}/steps").json() == before


def test_bad_shadow_requests(client: Client, engine: Engine, keys: dict[str, str]) -> None:
    engine.publish(WAITER)
    for body, status in [
        ({"version": 9, "runs": {"last": 1}}, 404),
        ({"version": 1, "runs": {"last": 0}}, 400),
        ({"version": 1, "runs": []}, 400),
        ({"version": 1}, 400),
        ({"version": 1, "runs": "all"}, 400),
    ]:
        answer = client.post(URL, json=body)
        assert answer.status_code == status, (body, answer.text)
        error_code(answer)
    missing = client.post(URL, json={"version": 1, "runs": ["nope"]}).json()
    assert missing["runs"] == [
        {"runId": "nope", "result": "not-found", "divergence": None, "stopped": None}
    ]
    viewer = client.as_key(keys["viewer"]).post(URL, json={"version": 1, "runs": {"last": 1}})
    assert viewer.status_code == 403


def test_the_draft_can_be_replayed_before_it_is_published(client: Client, engine: Engine) -> None:
    engine.publish(CHECKED)
    run_id = engine.start("waiter", {"n": 1}, subject="s1")
    engine.run_worker(until_idle=True)
    engine.send_event("go", "s1", {"ok": True})
    engine.run_worker(until_idle=True)
    same = client.post(URL, json={"version": "draft", "runs": [run_id]}).json()
    assert same["runs"][0]["result"] == "same"  # publishing left the published text as draft
    condition = {"field": "vars.go.ok", "op": "equals", "value": False}
    draft = dict(CHECKED)
    draft["steps"] = [*CHECKED["steps"][:2], {**CHECKED["steps"][2], "condition": condition}]
    draft["steps"].append(CHECKED["steps"][3])
    engine.save_draft(draft)
    answer = client.post(URL, json={"version": "draft", "runs": {"last": 1}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == "draft"
    [run] = answer.json()["runs"]
    assert run["result"] == "diverges" and run["divergence"]["stepId"] == "check"
    assert [v["version"] for v in engine.versions("waiter")] == [1]  # nothing published
    engine.save_draft({"key": "waiter", "steps": [{"id": "x", "type": "nope.nope"}]})
    invalid = client.post(URL, json={"version": "draft", "runs": {"last": 1}})
    assert (invalid.status_code, error_code(invalid)) == (422, "definition.invalid")
