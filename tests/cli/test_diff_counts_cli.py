"""`flowpin diff KEY A B` and `flowpin counts KEY` on the database the runs live in."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from clikit import flowpin_result
from test_run_cli import flowpin

V1 = {
    "key": "journey",
    "steps": [
        {"id": "hello", "type": "state.set", "config": {"state": "NEW"}},
        {"id": "ask", "type": "event.wait", "config": {"eventName": "answer"}},
        {"id": "done", "type": "control.return", "output": {"$expr": "payload"}},
    ],
}


def test_diff_and_counts_from_the_command_line(tmp_path: Path, db_url: str) -> None:
    v1, v2 = tmp_path / "v1.json", tmp_path / "v2.json"
    v1.write_text(json.dumps(V1))
    changed = copy.deepcopy(V1)
    changed["steps"][1] = {"id": "ask", "type": "time.wait", "config": {"durationMs": 1000}}
    v2.write_text(json.dumps(changed))
    for subject in ("a", "b"):
        run = flowpin("run", str(v1), "--subject", subject, db=db_url)
        assert run["status"] == "WAITING"
    flowpin("publish", str(v2), db=db_url)

    diff = flowpin("diff", "journey", "1", "2", db=db_url)
    assert (diff["from"], diff["to"], diff["activeRuns"]) == (1, 2, 2)
    [change] = diff["changes"]
    assert (change["stepId"], change["change"], change["fromType"]) == (
        "ask",
        "typeChanged",
        "event.wait",
    )
    assert change["runs"] == {"at": 2, "before": 0, "after": 0}
    assert change["classification"] == "needs-mapping"

    counts = flowpin("counts", "journey", db=db_url)
    assert counts["latestVersion"] == 2 and counts["activeOnOlderVersions"] == 2
    assert counts["total"]["waiting"] == 2
    assert counts["byVersion"]["1"]["steps"]["ask"]["waitingByKind"]["event"] == 2

    code, error = flowpin_result("diff", "journey", "1", "7", db=db_url)
    assert code == 2 and error["error"]["code"] == "version.not_found"
    code, error = flowpin_result("diff", "journey", "draft", "1", db=db_url)
    assert code == 2 and error["error"]["code"] == "diff.bad_version"
