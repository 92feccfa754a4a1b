"""``flowpin worker`` and ``flowpin serve`` take the call depth and children limits and the CPU
budget per claim and the checkpoint groups' bound as flags (``--max-call-depth``,
``--max-children-per-run``, ``--cpu-budget-ms``, ``--group-ms``) or from the environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flowpin import Engine
from flowpin.registry.catalog import Registry
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


ECHOES = """
from pydantic import BaseModel
from flowpin.registry.actions import action

class Text(BaseModel):
    text: str

@action("cli.echo", version=1, effect="none")
def echo(data: Text) -> Text:
    return data
"""


@pytest.mark.parametrize(
    ("args", "env", "grouped"),
    [([], {}, True), (["--group-ms", "0"], {}, False), ([], {"FLOWPIN_GROUP_MS": "0"}, False)],
    ids=["default", "flag", "environment"],
)
def test_worker_groups_repeatable_calls_unless_told_not_to(
    tmp_path: Path, args: list[str], env: dict[str, str], grouped: bool
) -> None:
    (tmp_path / "echo_actions.py").write_text(ECHOES)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    steps = [
        {
            "id": f"e{i}",
            "type": "action.call",
            "config": {"actionId": "cli.echo", "version": 1, "inputMapping": {"text": "hi"}},
        }
        for i in range(5)
    ]
    loaded: dict[str, Any] = {}
    exec(ECHOES, loaded)  # the action as the worker will load it, to publish against
    registry = Registry()
    registry.register(loaded["echo"])
    with Engine(db, registry=registry) as engine:
        engine.publish({"key": "echoes", "steps": steps})
        run_id = engine.start("echoes", {})
    done = subprocess.run(
        [*CLI, "worker", "--until-idle", "--db", db, "--actions", "echo_actions", *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    counts = json.loads(done.stdout)
    assert counts["finished"] == 1 and counts["actionsCalled"] == 5
    # Grouped: the five calls are written by the run's last checkpoint; else one each.
    assert (counts["checkpoints"] <= 2) if grouped else (counts["checkpoints"] >= 6), counts
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
        (["--group-ms", "-1"], {}, "--group-ms"),
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
