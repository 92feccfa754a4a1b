"""The CLI contract scripts rely on: `flowpin run` prints the run as one JSON object, and the
events/runs/tasks/worker commands drive runs on the same database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLOWPIN = [sys.executable, "-m", "flowpin.cli.main"]


def flowpin(*args: str, db: str, cwd: Path = REPO) -> dict | list:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FLOWPIN_ACTIONS", None)
    done = subprocess.run(
        [*FLOWPIN, *args, "--db", db],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def test_run_prints_the_contract(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run = flowpin("run", "examples/hello.json", "--input", '{"name": "Ada", "plan": "pro"}', db=db)
    assert set(run) >= {
        "runId",
        "workflow",
        "version",
        "status",
        "output",
        "state",
        "error",
        "waitingFor",
    }
    assert set(run["state"]) == {"payload", "vars", "meta"}
    assert run["status"] == "SUCCEEDED"
    assert run["workflow"] == "hello" and run["version"] == 1
    assert run["error"] is None and run["waitingFor"] == []


def test_run_parks_then_event_resumes_and_runs_show_has_history(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    order = {
        "order": {
            "orderId": "o-9",
            "customerEmail": "a@example.com",
            "totalCents": 250000,
            "currency": "EUR",
            "items": [{"sku": "A", "quantity": 1}],
        }
    }
    run = flowpin(
        "run",
        "examples/order-approval.json",
        "--input",
        json.dumps(order),
        "--subject",
        "o-9",
        "--actions",
        "examples.actions",
        db=db,
    )
    assert run["status"] == "WAITING"
    assert run["waitingFor"][0]["eventName"] == "order.approval"
    sent = flowpin(
        "events", "send", "order.approval", "o-9", "--payload", '{"approved": true}', db=db
    )
    assert sent["resumed"] == [run["runId"]]
    flowpin("worker", "--until-idle", "--actions", "examples.actions", db=db)
    shown = flowpin("runs", "show", run["runId"], db=db)
    assert shown["status"] == "SUCCEEDED", shown["error"]
    assert [h["stepId"] for h in shown["history"]][:2] == ["received", "check-stock"]
    listed = flowpin("runs", "list", "--status", "SUCCEEDED", db=db)
    assert [r["runId"] for r in listed] == [run["runId"]]


def test_run_of_an_invalid_file_fails_with_the_problems(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [*FLOWPIN, "run", "examples/invalid.json", "--db", db],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "definition.invalid"
    assert any(p["severity"] == "error" for p in error["details"])
