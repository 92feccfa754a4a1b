"""``POST /api/workflows/{key}/migrations``: a dry run by default, the per-run report, clear
4xx for a bad request, and progress streamed as JSON lines for a bulk apply."""

from __future__ import annotations

import json
from typing import Any

from apikit import WAITER, Client, error_code

from flowpin import Engine

URL = "/api/workflows/waiter/migrations"
V2 = {
    **WAITER,
    "steps": [
        *WAITER["steps"][:2],
        {"id": "note", "type": "transform.assign", "config": {"assign": {"vars.v": 2}}},
        WAITER["steps"][2],
    ],
}


def _parked(engine: Engine, count: int) -> list[str]:
    engine.publish(WAITER)
    runs = [engine.start("waiter", {"n": n}, subject=f"s{n}") for n in range(count)]
    engine.run_worker(until_idle=True)
    engine.publish(V2)
    return runs


def test_a_dry_run_is_the_default_and_moves_nothing(client: Client, engine: Engine) -> None:
    [run_id] = _parked(engine, 1)
    answer = client.post(URL, json={"fromVersion": 1, "toVersion": 2})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["dryRun"] is True and report["summary"]["ok"] == 1
    [run] = report["runs"]
    assert (run["runId"], run["result"], run["currentStep"]) == (run_id, "ok", "wait")
    assert client.get(f"/api/runs/{run_id}").json()["version"] == 1

    applied = client.post(URL, json={"fromVersion": 1, "toVersion": 2, "dryRun": False})
    assert applied.json()["runs"][0]["result"] == "moved"
    assert client.get(f"/api/runs/{run_id}").json()["version"] == 2
    steps = client.get(f"/api/runs/{run_id}/steps").json()
    history = steps["items"] if isinstance(steps, dict) else steps
    assert [row["type"] for row in history][-1] == "migration"


def test_problems_come_per_run_with_code_and_step(client: Client, engine: Engine) -> None:
    [run_id] = _parked(engine, 1)
    renamed = {**WAITER, "steps": [WAITER["steps"][0], {**WAITER["steps"][1], "id": "hold"}]}
    renamed["steps"].append(
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.go"}}
    )
    engine.publish(renamed)
    report = client.post(URL, json={"fromVersion": 1, "toVersion": 3}).json()
    [problem] = report["runs"][0]["problems"]
    assert (problem["code"], problem["stepId"], problem["token"]) == (
        "step.missing",
        "wait",
        "wait",
    )
    mapped = client.post(
        URL, json={"fromVersion": 1, "toVersion": 3, "mapping": {"wait": "hold"}, "dryRun": False}
    ).json()
    assert mapped["runs"][0]["positions"][0]["to"] == "hold"
    [waiting] = client.get(f"/api/runs/{run_id}").json()["waitingFor"]
    assert waiting["stepId"] == "hold" and waiting["token"] == "hold"
    engine.send_event("go", "s0", {"ok": 1})
    engine.run_worker(until_idle=True)
    assert client.get(f"/api/runs/{run_id}").json()["output"] == {"ok": 1}


def test_bad_requests_get_clear_errors(
    client: Client, engine: Engine, keys: dict[str, str]
) -> None:
    _parked(engine, 1)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"fromVersion": 1, "toVersion": 9}, 404, "version.not_found"),
        ({"fromVersion": 1, "toVersion": 1}, 400, "migration.same_version"),
        (
            {"fromVersion": 1, "toVersion": 2, "mapping": {"nope": "wait"}},
            400,
            "migration.bad_mapping",
        ),
        (
            {"fromVersion": 1, "toVersion": 2, "mapping": {"wait": "nope"}},
            400,
            "migration.bad_mapping",
        ),
        ({"fromVersion": 1, "toVersion": 2, "runs": "everything"}, 400, "request.invalid"),
        ({"fromVersion": 1, "toVersion": 2, "runs": {"status": "DONE"}}, 400, "request.invalid"),
        ({"fromVersion": 0, "toVersion": 2}, 400, "request.invalid"),
    ]
    for body, status, code in cases:
        answer = client.post(URL, json=body)
        assert (answer.status_code, error_code(answer)) == (status, code), body
    assert (
        client.post(
            "/api/workflows/nope/migrations", json={"fromVersion": 1, "toVersion": 2}
        ).status_code
        == 404
    )
    editor = client.as_key(keys["editor"]).post(URL, json={"fromVersion": 1, "toVersion": 2})
    assert (editor.status_code, error_code(editor)) == (403, "auth.forbidden")
    other = client.as_key(keys["other"]).post(URL, json={"fromVersion": 1, "toVersion": 2})
    assert other.status_code == 404  # another tenant's workflow does not exist for it


def test_progress_streams_as_json_lines(client: Client, engine: Engine, monkeypatch: Any) -> None:
    import flowpin.engine.migrating as migrating

    monkeypatch.setattr(migrating, "BATCH", 2)
    runs = _parked(engine, 5)
    answer = client.post(
        URL,
        json={"fromVersion": 1, "toVersion": 2, "dryRun": False},
        headers={"Accept": "application/x-ndjson"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    progress = [line["progress"] for line in lines[:-1]]
    assert progress == [
        {"done": 0, "total": 5},
        {"done": 2, "total": 5},
        {"done": 4, "total": 5},
        {"done": 5, "total": 5},
    ]
    report = lines[-1]["report"]
    assert report["summary"]["moved"] == 5
    assert sorted(run["runId"] for run in report["runs"]) == sorted(runs)
