"""Input the databases cannot store is a one-line error from the CLI (the API's error object as
one line of JSON, exit status 2), on SQLite and PostgreSQL — not a traceback, and never a run
started with NaN stored as null."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from test_run_cli import FLOWPIN, REPO

from flowpin import Engine


def flowpin_fails(*args: str, db: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FLOWPIN_ACTIONS", None)
    done = subprocess.run(
        [*FLOWPIN, *args, "--db", db], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    error = json.loads(lines[0])["error"]
    assert set(error) == {"code", "message", "details"}
    return error  # type: ignore[no-any-return]


BAD = "input.invalid_value"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("run", "examples/hello.json", "--input", '{"name": NaN}'), BAD),
        (("run", "examples/hello.json", "--subject", "s" * 501), "input.too_long"),
        (("events", "send", "go", "--payload", '{"n": 99999999999999999999, "s": "\\u0000"}'), BAD),
    ],
    ids=["NaN", "long subject", "big integer"],
)
def test_unstorable_input_is_a_one_line_error(
    db_url: str, args: tuple[str, ...], code: str
) -> None:
    error = flowpin_fails(*args, db=db_url)
    assert error["code"] == code
    with Engine(db_url, upgrade=False) as engine:
        assert engine.list_runs() == []
