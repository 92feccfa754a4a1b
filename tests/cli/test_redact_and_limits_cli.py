"""``flowpin worker`` and ``flowpin serve`` take the engine's redaction pointers and step limit
as flags (``--redact-pointer``, ``--max-steps-per-run``) or from the environment
(``FLOWPIN_REDACT_POINTERS``, ``FLOWPIN_MAX_STEPS_PER_RUN``)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from flowpin import Engine
from servekit import CLI, clean_env, flowpin_serve, run_status

CARD = "4111111111111111"

PAY = {
    "key": "pay",
    "steps": [
        {
            "id": "note",
            "type": "transform.assign",
            "config": {"assign": {"vars.receipt": {"$expr": "'paid with ' & payload.card.number"}}},
        },
        {"id": "end", "type": "control.return", "output": {"$expr": "vars.receipt"}},
    ],
}

LOOP = {
    "key": "loop",
    "steps": [
        {
            "id": "each",
            "type": "control.forEach",
            "items": {"$expr": "[1..40]"},
            "body": [
                {
                    "id": "touch",
                    "type": "transform.assign",
                    "config": {"assign": {"vars.last": {"$expr": "vars.item"}}},
                }
            ],
        },
        {"id": "end", "type": "control.return", "output": "done"},
    ],
}


def _assert_configured(engine: Engine, pay_run: str, loop_run: str) -> None:
    """The pay run's history holds no card number; the loop failed at the step limit (10)."""
    pay = engine.get_run(pay_run, history=True)
    assert pay["status"] == "SUCCEEDED"
    assert pay["output"] == f"paid with {CARD}"  # the run keeps its real values
    assert CARD not in str(pay["history"]) and "paid with [redacted]" in str(pay["history"])
    loop = engine.get_run(loop_run)
    assert loop["status"] == "FAILED"
    assert (loop["error"]["code"], loop["error"]["data"]["limit"]) == ("limit.steps", 10)


def _started(db: str) -> tuple[str, str]:
    with Engine(db) as engine:
        engine.publish(PAY)
        engine.publish(LOOP)
        return engine.start("pay", {"card": {"number": CARD}}), engine.start("loop", {})


@pytest.mark.parametrize("source", ["flags", "environment"])
def test_worker_masks_pointers_and_limits_steps(tmp_path: Path, source: str) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    pay_run, loop_run = _started(db)
    args = [*CLI, "worker", "--until-idle", "--db", db]
    env = clean_env()
    if source == "flags":
        args += ["--redact-pointer", "/payload/card/number", "--max-steps-per-run", "10"]
    else:
        env.update(
            FLOWPIN_REDACT_POINTERS="/payload/card/number, /vars/unused",
            FLOWPIN_MAX_STEPS_PER_RUN="10",
        )
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    with Engine(db) as engine:
        _assert_configured(engine, pay_run, loop_run)


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--redact-pointer", "payload/card"], {}, "must start with '/'"),
        ([], {"FLOWPIN_REDACT_POINTERS": "/secrets/x"}, "must point inside the run envelope"),
        (["--max-steps-per-run", "0"], {}, "--max-steps-per-run"),
        ([], {"FLOWPIN_MAX_STEPS_PER_RUN": "many"}, "FLOWPIN_MAX_STEPS_PER_RUN"),
    ],
)
def test_bad_values_are_usage_errors_that_name_them(
    tmp_path: Path, args: list[str], env: dict[str, str], words: str
) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    for command in ("worker", "serve"):
        done = subprocess.run(
            [*CLI, command, "--db", db, *args],
            env=clean_env(COLUMNS="300", **env),  # one line per message: no wrapping
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert words in done.stderr, done.stderr


def test_serve_masks_pointers_in_answers_and_limits_steps(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    args = ("--redact-pointer", "/payload/card/number")
    with flowpin_serve(db, *args, env=clean_env(FLOWPIN_MAX_STEPS_PER_RUN="10")) as http:
        for definition in (PAY, LOOP):
            key = definition["key"]
            assert http.post("/api/workflows", json={"key": key, "draft": definition}).is_success
            assert http.post(f"/api/workflows/{key}/publish").status_code == 201
        started: dict[str, Any] = {}
        for key, payload in (("pay", {"card": {"number": CARD}}), ("loop", {})):
            response = http.post("/api/runs", json={"workflow": key, "payload": payload})
            assert response.status_code == 201, response.text
            started[key] = response.json()["runId"]
        assert run_status(http, started["pay"], {"SUCCEEDED", "FAILED"}) == "SUCCEEDED"
        assert run_status(http, started["loop"], {"SUCCEEDED", "FAILED"}) == "FAILED"
        pay = http.get(f"/api/runs/{started['pay']}").json()
        assert pay["state"]["payload"]["card"]["number"] == "[redacted]"
        assert pay["output"] == "paid with [redacted]"
        assert CARD not in http.get(f"/api/runs/{started['pay']}/steps").text
    with Engine(db) as engine:
        _assert_configured(engine, started["pay"], started["loop"])
