"""A newcomer's mistakes on the command line get one line saying what is wrong and what to do
(exit 2), never a traceback; options belong to the commands they mean something to."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import flowpin

REPO = Path(__file__).resolve().parents[2]
FLOWPIN = [sys.executable, "-m", "flowpin.cli.main"]


def flowpin_cmd(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    if "FLOWPIN_ACTIONS" not in (env or {}):
        full_env.pop("FLOWPIN_ACTIONS", None)
    full_env.pop("FLOWPIN_DATABASE_URL", None)
    return subprocess.run(
        [*FLOWPIN, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_problem(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("flowpin: ")
    for word in words:
        assert word in lines[0]
    return lines[0]


def test_version_is_printed_and_importable() -> None:
    done = flowpin_cmd("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"flowpin {flowpin.__version__}"
    assert flowpin.__version__[0].isdigit()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("foo", ["not a database URL", "sqlite:///"]),
        ("mysql://root@127.0.0.1/test", ["SQLite or PostgreSQL", "mysql"]),
        (
            "postgresql://postgres:hunter2@127.0.0.1:5432/flowpin_nope_db",
            ["does not exist", "createdb"],
        ),
        ("postgresql://postgres@127.0.0.1:1/x", ["no database server answers"]),
    ],
)
def test_a_wrong_db_is_one_line(url: str, words: list[str]) -> None:
    line = assert_one_line_problem(flowpin_cmd("runs", "list", "--db", url), *words)
    assert "hunter2" not in line


def test_a_new_relative_sqlite_file_is_announced_with_its_path(tmp_path: Path) -> None:
    done = flowpin_cmd("runs", "list", "--db", "sqlite:///sub/x.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"created a new database at {tmp_path / 'sub' / 'x.db'}" in done.stderr
    again = flowpin_cmd("runs", "list", "--db", "sqlite:///sub/x.db", cwd=tmp_path)
    assert "created" not in again.stderr


def test_a_missing_input_file_is_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    done = flowpin_cmd("run", "examples/hello.json", "--input", "@missing.json", "--db", db)
    assert_one_line_problem(done, "--input", "missing.json", "No such file")
    done = flowpin_cmd("events", "send", "x", "k", "--payload", "@nofile.json", "--db", db)
    assert_one_line_problem(done, "--payload", "nofile.json")


def test_a_broken_actions_setting_does_not_break_commands_that_need_no_actions(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    env = {"FLOWPIN_ACTIONS": "no_such_module.actions"}
    for args in (["runs", "list"], ["tasks", "list"], ["keys", "list"]):
        done = flowpin_cmd(*args, "--db", db, env=env)
        assert done.returncode == 0, done.stderr
    worker = flowpin_cmd("worker", "--until-idle", "--db", db, env=env)
    assert_one_line_problem(worker, "no_such_module.actions")


def test_cancel_refuses_options_of_retry_and_keeps_the_run(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    env = {"FLOWPIN_ACTIONS": "examples.actions"}
    started = flowpin_cmd(
        "run",
        "examples/order-approval.json",
        "--subject",
        "o-1",
        "--input",
        "@examples/inputs/order.json",
        "--db",
        db,
        env=env,
    )
    run = json.loads(started.stdout)
    assert run["status"] == "WAITING"
    for verb in ("cancel", "resume"):
        for option in (["--dry-run"], ["--from-step", "x"]):
            done = flowpin_cmd("runs", verb, run["runId"], *option, "--db", db, env=env)
            assert done.returncode == 2
            assert "No such option" in done.stderr
    shown = json.loads(flowpin_cmd("runs", "show", run["runId"], "--db", db).stdout)
    assert shown["status"] == "WAITING"


def test_unknown_status_is_refused_with_the_valid_ones(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    done = flowpin_cmd("runs", "list", "--status", "bogus", "--db", db)
    assert done.returncode == 2
    assert "waiting" in done.stderr.lower() and "canceled" in done.stderr.lower()
    ok = flowpin_cmd("runs", "list", "--status", "WAITING", "--db", db)
    assert ok.returncode == 0 and json.loads(ok.stdout) == []


def test_keys_commands_name_their_tenant(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    created = json.loads(
        flowpin_cmd("keys", "create", "--tenant", "acme", "--role", "editor", "--db", db).stdout
    )
    listed = json.loads(flowpin_cmd("keys", "list", "--tenant", "acme", "--db", db).stdout)
    assert listed["tenant"] == "acme"
    assert [key["keyId"] for key in listed["keys"]] == [created["keyId"]]
    assert json.loads(flowpin_cmd("keys", "list", "--db", db).stdout) == {
        "tenant": "default",
        "keys": [],
    }
    revoked = json.loads(
        flowpin_cmd("keys", "revoke", created["keyId"], "--tenant", "acme", "--db", db).stdout
    )
    assert revoked == {"tenant": "acme", "keyId": created["keyId"], "revoked": True}


def test_serve_on_a_busy_port_fails_before_creating_the_admin_key(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = flowpin_cmd("serve", "--port", str(port), "--db", db, timeout=30)
    assert_one_line_problem(done, f"127.0.0.1:{port}", "--port")
    assert "FLOWPIN_API_KEY" not in done.stdout + done.stderr
    listed = json.loads(flowpin_cmd("keys", "list", "--db", db).stdout)
    assert listed["keys"] == []


def test_cancel_matching_says_how_many_and_needs_a_yes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'f.db'}"
    env = {"FLOWPIN_ACTIONS": "examples.actions"}
    run_ids = []
    for subject in ("o-1", "o-2", "o-3"):
        started = flowpin_cmd(
            "run",
            "examples/order-approval.json",
            "--subject",
            subject,
            "--input",
            "@examples/inputs/order.json",
            "--db",
            db,
            env=env,
        )
        run_ids.append(json.loads(started.stdout)["runId"])
    refused = flowpin_cmd("runs", "cancel-matching", "--workflow", "order-approval", "--db", db)
    assert_one_line_problem(refused, "3 active runs match", "--yes")
    done = flowpin_cmd(
        "runs", "cancel-matching", "--workflow", "order-approval", "--yes", "--db", db
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"matching": 3, "canceled": 3}
    for run_id in run_ids:
        shown = json.loads(flowpin_cmd("runs", "show", run_id, "--db", db).stdout)
        assert shown["status"] == "CANCELED"
