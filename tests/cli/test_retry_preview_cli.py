"""`flowpin runs retry ID --dry-run` prints what a retry would call again and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from test_run_cli import flowpin

ACTIONS = """
from pydantic import BaseModel

from flowpin.registry.actions import ActionError, action


class Order(BaseModel):
    order: str


class Done(BaseModel):
    ok: bool


@action("shop.reserve", version=1, effect="side_effect")
def reserve(data: Order) -> Done:
    return Done(ok=True)


@action("shop.charge", version=1, effect="side_effect")
def charge(data: Order) -> Done:
    raise ActionError("card declined", retryable=False)
"""


def _call(step_id: str, action_id: str) -> dict:
    config = {"actionId": action_id, "version": 1, "inputMapping": {"order": "o-1"}}
    return {"id": step_id, "type": "action.call", "config": config}


def test_retry_dry_run_prints_the_preview(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "shop_actions.py").write_text(ACTIONS)
    workflow = tmp_path / "shop.json"
    steps = [_call("reserve", "shop.reserve"), _call("charge", "shop.charge")]
    workflow.write_text(json.dumps({"key": "shop", "steps": steps}))
    db = db_url
    uses = ("--actions", "shop_actions")

    run = flowpin("run", str(workflow), *uses, db=db, cwd=tmp_path)
    assert run["status"] == "FAILED" and run["error"]["message"] == "card declined"
    preview = flowpin("runs", "retry", run["runId"], "--dry-run", *uses, db=db, cwd=tmp_path)
    assert preview["runId"] == run["runId"] and preview["fromStep"] == ["charge"]
    [charge] = preview["actions"]
    assert (charge["stepId"], charge["effect"], charge["reason"]) == (
        "charge",
        "side_effect",
        "restarts here",
    )
    earlier = flowpin(
        "runs",
        "retry",
        run["runId"],
        "--from-step",
        "reserve",
        "--dry-run",
        *uses,
        db=db,
        cwd=tmp_path,
    )
    reserve = earlier["actions"][0]
    assert reserve["stepId"] == "reserve" and reserve["answeredByLedger"] is False
    assert flowpin("runs", "show", run["runId"], db=db, cwd=tmp_path)["status"] == "FAILED"
