"""``flowpin migrate KEY --from A --to B [--map old=new]… [--runs …] [--dry-run|--apply]``:
the per-run report as JSON on stdout, a progress bar on stderr, one-line usage errors; and
``flowpin shadow KEY --version N --runs …|--last N``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from test_run_cli import FLOWPIN, REPO, flowpin

V1 = {
    "key": "parcel",
    "steps": [
        {
            "id": "wait",
            "type": "event.wait",
            "config": {"eventName": "arrived", "saveAs": "vars.a"},
        },
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.a"}},
    ],
}
V2 = {
    "key": "parcel",
    "steps": [
        {
            "id": "hold",
            "type": "event.wait",
            "config": {"eventName": "arrived", "saveAs": "vars.a"},
        },
        {"id": "stamp", "type": "transform.assign", "config": {"assign": {"vars.v": 2}}},
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.a"}},
    ],
}


def _flowpin_raw(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*FLOWPIN, *args, "--db", db], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_migrate_checks_then_moves_runs(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "v1.json").write_text(json.dumps(V1))
    (tmp_path / "v2.json").write_text(json.dumps(V2))
    first = flowpin("run", str(tmp_path / "v1.json"), "--subject", "p1", db=db_url)
    second = flowpin("run", str(tmp_path / "v1.json"), "--subject", "p2", db=db_url)
    assert flowpin("publish", str(tmp_path / "v2.json"), db=db_url)["version"] == 2

    dry = flowpin("migrate", "parcel", "--from", "1", "--to", "2", db=db_url)
    assert dry["dryRun"] is True and dry["summary"]["blocked"] == 2
    assert {p["code"] for r in dry["runs"] for p in r["problems"]} == {"step.missing"}

    mapped = flowpin(
        "migrate",
        "parcel",
        "--from",
        "1",
        "--to",
        "2",
        "--map",
        "wait=hold",
        "--dry-run",
        db=db_url,
    )
    assert mapped["summary"]["ok"] == 2

    applied = flowpin(
        "migrate",
        "parcel",
        "--from=1",
        "--to=2",
        "--map",
        "wait=hold",
        "--runs",
        first["runId"],
        "--apply",
        db=db_url,
    )
    assert [(r["runId"], r["result"]) for r in applied["runs"]] == [(first["runId"], "moved")]
    assert flowpin("runs", "show", first["runId"], db=db_url)["version"] == 2
    assert flowpin("runs", "show", second["runId"], db=db_url)["version"] == 1

    flowpin("events", "send", "arrived", "p1", "--payload", '{"ok": true}', db=db_url)
    flowpin("worker", "--until-idle", db=db_url)
    shown = flowpin("runs", "show", first["runId"], db=db_url)
    assert shown["status"] == "SUCCEEDED"
    assert [(h["stepId"], h["version"]) for h in shown["history"]] == [
        ("$migration", 2),
        ("hold", 2),
        ("stamp", 2),
        ("done", 2),
    ]

    same = flowpin("shadow", "parcel", "--version", "2", "--runs", first["runId"], db=db_url)
    assert [r["result"] for r in same["runs"]] == ["same"]
    old = flowpin("shadow", "parcel", "--version", "1", "--last", "5", db=db_url)
    by_run = {r["runId"]: r for r in old["runs"]}
    assert by_run[second["runId"]]["result"] == "in-progress"  # still waiting where v1 waits
    assert by_run[first["runId"]]["stopped"]["reason"] == (
        "cannot replay past step 'wait': no recorded event"  # it waited at v2's 'hold'
    )


def test_migrate_usage_errors_are_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    (tmp_path / "v1.json").write_text(json.dumps(V1))
    flowpin("publish", str(tmp_path / "v1.json"), db=db)
    bad_map = _flowpin_raw("migrate", "parcel", "--from", "1", "--to", "2", "--map", "x", db=db)
    assert bad_map.returncode == 2 and "'x' is not OLD=NEW" in bad_map.stderr
    assert "Traceback" not in bad_map.stderr
    missing = _flowpin_raw("migrate", "parcel", "--from", "1", "--to", "7", db=db)
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["error"]["code"] == "version.not_found"
    both = _flowpin_raw(
        "migrate", "parcel", "--from", "1", "--to", "2", "--runs", "a", "--step", "x", db=db
    )
    assert both.returncode == 2 and "not both" in both.stderr
    neither = _flowpin_raw("shadow", "parcel", "--version", "1", db=db)
    assert neither.returncode == 2 and "--runs or --last" in neither.stderr
    bad = _flowpin_raw("shadow", "parcel", "--version", "v0", "--last", "1", db=db)
    assert bad.returncode == 2 and "not a version number or 'draft'" in bad.stderr
