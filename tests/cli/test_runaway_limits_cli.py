"""``flowpin worker`` and ``flowpin serve`` take the call depth and children limits and the CPU
budget per claim as flags (``--max-call-depth``, ``--max-children-per-run``,
``--cpu-budget-ms``) or from the environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from flowpin import Engine
from servekit import CLI, clean_env, flowpin_serve, run_status

SELFIE = {
    "key": "selfie",
    "steps": [
        {
            "id": "call",
            "type": "control.callWorkflow",
            "workflowKey": "selfie",
            "inputMapping": {},
        }
    ],
}


def _refused_depth(db: str) -> list[int]:
    """The ``limit`` of each run refused with ``limit.depth``."""
    with Engine(db) as engine:
        runs = [engine.get_run(r["runId"]) for r in engine.list_runs(workflow="selfie")]
    return [r["error"]["data"]["limit"] for r in runs if r["error"].get("code") == "limit.depth"]


@pytest.mark.parametrize("source", ["flags", "environment"])
def test_worker_limits_the_call_depth(tmp_path: Path, source: str) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    with Engine(db) as engine:
        engine.publish(SELFIE)
        engine.start("selfie", {})
    args = [*CLI, "worker", "--until-idle", "--db", db]
    env = clean_env()
    if source == "flags":
        args += ["--max-call-depth", "2", "--max-children-per-run", "5"]
    else:
        env.update(FLOWPIN_MAX_CALL_DEPTH="2", FLOWPIN_MAX_CHILDREN_PER_RUN="5")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _refused_depth(db) == [2]


BURNING = {
    "key": "burning",
    "steps": [
        {
            "id": "each",
            "type": "control.forEach",
            "items": {"$expr": "[1..6]"},
            "body": [
                {
                    "id": "burn",
                    "type": "transform.assign",
                    "onError": "continue",
                    "config": {
                        "assign": {"vars.x": {"$expr": "($f := function() { $f() }; $f())"}}
                    },
                }
            ],
        }
    ],
}


@pytest.mark.parametrize("source", ["flags", "environment"])
def test_worker_hands_a_run_back_when_its_cpu_budget_is_spent(tmp_path: Path, source: str) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    with Engine(db) as engine:
        engine.publish(BURNING)
        run_id = engine.start("burning", {})
    args = [*CLI, "worker", "--until-idle", "--db", db]
    env = clean_env()
    if source == "flags":
        args += ["--cpu-budget-ms", "5"]
    else:
        env.update(FLOWPIN_CPU_BUDGET_MS="5")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    counts = json.loads(done.stdout)
    assert counts["finished"] == 1
    assert counts["claimed"] >= 3  # six 50 ms steps, a 5 ms budget: claimed again and again
    with Engine(db) as engine:
        assert engine.get_run(run_id)["status"] == "SUCCEEDED"


def test_serve_limits_the_call_depth(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    with flowpin_serve(db, "--max-call-depth", "3") as http:
        assert http.post("/api/workflows", json={"key": "selfie", "draft": SELFIE}).is_success
        published = http.post("/api/workflows/selfie/publish")
        assert published.status_code == 201
        assert "CALL_CYCLE" in published.text
        response = http.post("/api/runs", json={"workflow": "selfie", "payload": {}})
        assert response.status_code == 201, response.text
        assert run_status(http, response.json()["runId"], {"SUCCEEDED", "FAILED"}) == "FAILED"
    assert _refused_depth(db) == [3]


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--max-call-depth", "0"], {}, "--max-call-depth"),
        ([], {"FLOWPIN_MAX_CHILDREN_PER_RUN": "lots"}, "FLOWPIN_MAX_CHILDREN_PER_RUN"),
        (["--cpu-budget-ms", "0"], {}, "--cpu-budget-ms"),
    ],
)
def test_bad_limits_are_usage_errors_that_name_them(
    tmp_path: Path, args: list[str], env: dict[str, str], words: str
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    for command in ("worker", "serve"):
        done = subprocess.run(
            [*CLI, command, "--db", db, *args],
            env=clean_env(COLUMNS="300", **env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert words in done.stderr, done.stderr
