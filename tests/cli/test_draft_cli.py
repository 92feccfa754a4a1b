"""`flowpin draft show` prints the draft and its revision; `flowpin draft save --revision N`
saves only if the draft is still N, else prints draft.conflict with the current draft."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from clikit import flowpin_result
from test_run_cli import flowpin

DRAFT = {
    "key": "greet",
    "steps": [
        {"id": "mark", "type": "state.set", "config": {"state": "ONE"}},
        {"id": "wait", "type": "event.wait", "config": {"eventName": "go"}},
    ],
}


def _file(tmp_path: Path, name: str, state: str, *, broken: bool = False) -> str:
    document = copy.deepcopy(DRAFT)
    document["steps"][0]["config"]["state"] = state
    if broken:
        document["steps"].append({"id": "mark", "type": "state.set", "config": {"state": "X"}})
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def test_draft_save_is_a_compare_and_set(tmp_path: Path, db_url: str) -> None:
    flowpin("publish", _file(tmp_path, "v1.json", "ONE"), db=db_url)
    shown = flowpin("draft", "show", "greet", db=db_url)
    assert shown["revision"] == 1 and shown["valid"] is True

    alice = _file(tmp_path, "a.json", "ALICE")
    saved = flowpin("draft", "save", alice, "--revision", "1", db=db_url)
    assert saved["revision"] == 2 and saved["valid"] is True
    code, stale = flowpin_result(
        "draft", "save", _file(tmp_path, "b.json", "BOB"), "--revision", "1", db=db_url
    )
    assert code == 2 and stale["error"]["code"] == "draft.conflict"
    assert stale["error"]["details"]["currentRevision"] == 2
    assert stale["error"]["details"]["draft"]["steps"][0]["config"]["state"] == "ALICE"
    assert flowpin("draft", "show", "greet", db=db_url)["draft"]["steps"][0]["config"] == {
        "state": "ALICE"
    }

    broken = flowpin(
        "draft", "save", _file(tmp_path, "c.json", "C", broken=True), "--revision", "2", db=db_url
    )
    assert broken["revision"] == 3 and broken["valid"] is False
    assert any(p["severity"] == "error" for p in broken["problems"])

    code, missing = flowpin_result("draft", "show", "nope", db=db_url)
    assert code == 2 and missing["error"]["code"] == "workflow.not_found"
    code, _ = flowpin_result("draft", "save", _file(tmp_path, "d.json", "D"), db=db_url)
    assert code == 2  # --revision is required (a usage error)
