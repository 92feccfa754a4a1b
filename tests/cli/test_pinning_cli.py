"""Pinning from the command line: a run parked on version 1 finishes on version 1 after
version 2 is published and a third edit is saved as the draft."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from test_run_cli import flowpin

V1: dict[str, Any] = {
    "key": "offer",
    "steps": [
        {"id": "go", "type": "event.wait", "config": {"eventName": "go"}},
        {"id": "price", "type": "transform.assign", "config": {"assign": {"vars.discount": 10}}},
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.discount"}},
    ],
}


def _file(tmp_path: Path, name: str, discount: int) -> str:
    document = copy.deepcopy(V1)
    document["steps"][1]["config"]["assign"]["vars.discount"] = discount
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def test_a_parked_run_finishes_on_its_version(tmp_path: Path, db_url: str) -> None:
    old = flowpin("run", _file(tmp_path, "v1.json", 10), "--subject", "old", db=db_url)
    assert (old["version"], old["status"]) == (1, "WAITING")
    assert flowpin("publish", _file(tmp_path, "v2.json", 50), db=db_url)["version"] == 2
    revision = flowpin("draft", "show", "offer", db=db_url)["revision"]
    draft = _file(tmp_path, "v3.json", 99)
    flowpin("draft", "save", draft, "--revision", str(revision), db=db_url)
    counts = flowpin("counts", "offer", db=db_url)
    assert counts["activeOnOlderVersions"] == 1

    flowpin("events", "send", "go", "old", "--work", db=db_url)
    done = flowpin("runs", "show", old["runId"], db=db_url)
    assert (done["version"], done["status"], done["output"]) == (1, "SUCCEEDED", 10)
    assert {step["version"] for step in done["history"]} == {1}
    new = flowpin("run", _file(tmp_path, "v2.json", 50), "--subject", "new", db=db_url)
    flowpin("events", "send", "go", "new", "--work", db=db_url)
    finished = flowpin("runs", "show", new["runId"], db=db_url)
    assert (finished["version"], finished["output"]) == (2, 50)
