"""``flowpin run`` and ``flowpin runs show`` mask what the API masks: values under secret-like
keys and at the workflow's redaction pointers; the run itself keeps them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from flowpin import Engine
from flowpin.cli.main import app as cli

SIGN_IN = {
    "key": "sign-in",
    "settings": {"redact": ["/payload/card"]},
    "steps": [
        {
            "id": "end",
            "type": "control.return",
            "output": {
                "user": {"$expr": "payload.user"},
                "password": {"$expr": "payload.password"},
                "card": {"$expr": "payload.card"},
            },
        }
    ],
}
PAYLOAD = {"user": "ada", "password": "correct horse", "card": "4111111111111111"}


def _printed(output: str) -> dict:
    """The JSON object printed (a new SQLite database is announced on a line before it)."""
    return json.loads(output[output.index("{") :])


def test_the_cli_shows_a_run_as_the_api_does(db_url: str, tmp_path: Path) -> None:
    definition = tmp_path / "sign-in.json"
    definition.write_text(json.dumps(SIGN_IN))
    runner = CliRunner()
    ran = runner.invoke(
        cli, ["run", str(definition), "--input", json.dumps(PAYLOAD), "--db", db_url]
    )
    assert ran.exit_code == 0, ran.output
    printed = _printed(ran.output)
    expected = {"user": "ada", "password": "[redacted]", "card": "[redacted]"}
    assert printed["output"] == expected
    shown = json.loads(
        runner.invoke(cli, ["runs", "show", printed["runId"], "--db", db_url]).output
    )
    assert shown["output"] == expected and shown["state"]["payload"]["password"] == "[redacted]"
    assert "correct horse" not in json.dumps(shown) and "4111111111111111" not in json.dumps(shown)
    with Engine(db_url) as engine:  # the run keeps its real values
        assert engine.get_run(printed["runId"])["output"]["password"] == "correct horse"
