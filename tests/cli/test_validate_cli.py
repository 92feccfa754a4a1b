import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowpin.cli.main import app
from flowpin.definitions.canonical import version_hash

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()

INVALID_CODES = {
    ("error", "DUPLICATE_STEP_ID", "steps[3].then[0].id"),
    ("error", "INVALID_CRON", "triggers[0].cron"),
    ("error", "INVALID_EXPRESSION", "steps[1].config.inputMapping.email"),
    ("error", "INVALID_SECRET_NAME", "steps[1].config.inputMapping.apiKey"),
    ("error", "UNKNOWN_ACTION", "steps[1].config.actionId"),
    ("error", "INVALID_ASSIGN_PATH", "steps[1].config.saveAs"),
    ("warning", "WAIT_WITHOUT_TIMEOUT", "steps[2].config"),
    ("error", "INVALID_CONDITION", "steps[3].condition"),
    ("warning", "UNDEFINED_VARIABLE", "steps[4].output"),
    ("warning", "UNREACHABLE_STEP", "steps[5]"),
    ("error", "UNKNOWN_NODE_TYPE", "steps[5].type"),
}


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # `--actions examples.actions` imports from the working directory
    monkeypatch.delenv("FLOWPIN_ACTIONS", raising=False)


def test_invalid_example_prints_its_problems_and_exits_1() -> None:
    result = runner.invoke(app, ["validate", "examples/invalid.json"])
    assert result.exit_code == 1, result.output
    assert "examples/invalid.json: 8 error(s), 3 warning(s)" in result.output
    for _, code, path in INVALID_CODES:
        assert code in result.output
        assert path in result.output
    assert "action crm.find_contact@1 is not registered" in result.output


def test_invalid_example_as_json() -> None:
    result = runner.invoke(app, ["validate", "--json", "examples/invalid.json"])
    assert result.exit_code == 1
    [report] = json.loads(result.output)["files"]
    assert report["valid"] is False and report["hash"] is None
    assert (report["errors"], report["warnings"]) == (8, 3)
    got = {(p["severity"], p["code"], p["path"]) for p in report["problems"]}
    assert got == INVALID_CODES
    expression = next(p for p in report["problems"] if p["code"] == "INVALID_EXPRESSION")
    assert expression["stepId"] == "lookup"
    assert expression["details"]["position"] == 15


def test_valid_examples_exit_0_with_their_hash() -> None:
    result = runner.invoke(
        app,
        [
            "validate",
            "--json",
            "--actions",
            "examples.actions",
            "examples/hello.json",
            "examples/order-approval.json",
        ],
    )
    assert result.exit_code == 0, result.output
    reports = json.loads(result.output)["files"]
    assert [(r["key"], r["valid"], r["problems"]) for r in reports] == [
        ("hello", True, []),
        ("order-approval", True, []),
    ]
    hello = json.loads((EXAMPLES / "hello.json").read_text())
    assert reports[0]["hash"] == version_hash(hello)


def test_table_output_for_valid_files() -> None:
    result = runner.invoke(app, ["validate", "examples/hello.json"])
    assert result.exit_code == 0
    assert "examples/hello.json: valid" in result.output


def test_actions_are_needed_for_custom_actions() -> None:
    result = runner.invoke(app, ["validate", "--json", "examples/order-approval.json"])
    assert result.exit_code == 1
    [report] = json.loads(result.output)["files"]
    assert {p["code"] for p in report["problems"]} == {"UNKNOWN_ACTION"}


def test_actions_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPIN_ACTIONS", " examples.actions , ")
    result = runner.invoke(app, ["validate", "examples/order-approval.json"])
    assert result.exit_code == 0, result.output


def test_one_invalid_file_fails_the_whole_command() -> None:
    result = runner.invoke(app, ["validate", "examples/hello.json", "examples/invalid.json"])
    assert result.exit_code == 1
    assert "examples/hello.json: valid" in result.output


def test_unparsable_and_yaml_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"key": "x",')
    result = runner.invoke(app, ["validate", "--json", str(broken)])
    assert result.exit_code == 1
    [problem] = json.loads(result.output)["files"][0]["problems"]
    assert problem["code"] == "INVALID_DEFINITION" and "invalid JSON" in problem["message"]

    yaml_file = tmp_path / "hello.yaml"
    yaml_file.write_text(
        "key: hello-yaml\nsteps:\n  - id: s\n    type: state.set\n    config: {state: X}\n"
    )
    assert runner.invoke(app, ["validate", str(yaml_file)]).exit_code == 0


def test_usage_errors_exit_2() -> None:
    missing = runner.invoke(app, ["validate", "examples/nope.json"])
    assert missing.exit_code == 2
    bad_module = runner.invoke(app, ["validate", "--actions", "no_such_mod", "examples/hello.json"])
    assert bad_module.exit_code == 2
    assert "cannot import actions module 'no_such_mod'" in bad_module.output


def test_installed_flowpin_script() -> None:
    script = shutil.which("flowpin", path=str(Path(sys.executable).parent))
    assert script is not None, "the flowpin console script is not installed"
    bad = subprocess.run(
        [script, "validate", "examples/invalid.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1, bad.stderr
    assert "UNKNOWN_ACTION" in bad.stdout and "INVALID_CRON" in bad.stdout
    good = subprocess.run(
        [script, "validate", "--actions", "examples.actions", *sorted(_valid_examples())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "examples/order-approval.json: valid" in good.stdout


def _valid_examples() -> list[str]:
    return [f"examples/{p.name}" for p in EXAMPLES.glob("*.json") if p.name != "invalid.json"]
