"""The version diff by step id and its impact on runs in flight (no database)."""

from __future__ import annotations

import copy
from typing import Any

from flowpin.definitions.diff import assess, diff_definitions, reachable
from flowpin.definitions.loader import load_definition
from flowpin.definitions.walk import index_steps

V1: dict[str, Any] = {
    "key": "journey",
    "steps": [
        {"id": "hello", "type": "state.set", "config": {"state": "A"}},
        {
            "id": "send",
            "type": "email.send",
            "config": {"to": {"$expr": "payload.email"}, "subject": "Hi"},
            "retry": {"maxAttempts": 3},
        },
        {"id": "pause", "type": "time.wait", "config": {"durationMs": 1000}},
        {
            "id": "vip",
            "type": "control.if",
            "condition": {"field": "payload.plan", "op": "equals", "value": "pro"},
            "then": [{"id": "gift", "type": "state.set", "config": {"state": "G"}}],
            "else": [{"id": "plain", "type": "state.set", "config": {"state": "P"}}],
        },
        {
            "id": "each",
            "type": "control.forEach",
            "items": {"$expr": "payload.items"},
            "body": [
                {"id": "first", "type": "state.set", "config": {"state": "1"}},
                {"id": "second", "type": "event.wait", "config": {"eventName": "e"}},
            ],
        },
        {"id": "done", "type": "control.return", "output": {"$expr": "vars.x"}},
    ],
}


def _changes(b: dict[str, Any], a: dict[str, Any] = V1) -> list[dict[str, Any]]:
    diff = diff_definitions(load_definition(a), load_definition(b))
    return [change.to_dict() for change in diff.steps]


def test_identical_versions_have_no_changes() -> None:
    assert _changes(copy.deepcopy(V1)) == []


def test_fields_are_compared_one_by_one_and_named_by_kind() -> None:
    b = copy.deepcopy(V1)
    send = b["steps"][1]
    send["config"]["subject"] = "Hello"
    send["config"]["to"] = {"$expr": "payload.mail"}
    send["config"]["saveAs"] = "vars.sent"
    send["retry"]["maxAttempts"] = 5
    b["steps"][3]["condition"]["value"] = "business"
    b["steps"][5]["output"] = {"$expr": "vars.y"}
    changes = _changes(b)
    assert [(c["stepId"], c["change"]) for c in changes] == [
        ("send", "changed"),
        ("vip", "changed"),
        ("done", "changed"),
    ]
    send_fields = {f["path"]: (f["kind"], f.get("from"), f.get("to")) for f in changes[0]["fields"]}
    assert send_fields == {
        "config.to": ("expression", {"$expr": "payload.email"}, {"$expr": "payload.mail"}),
        "config.subject": ("config", "Hi", "Hello"),
        "config.saveAs": ("output", None, "vars.sent"),
        "retry.maxAttempts": ("retry", 3, 5),
    }
    assert "from" not in next(f for f in changes[0]["fields"] if f["path"] == "config.saveAs")
    assert [f["kind"] for f in changes[1]["fields"]] == ["rules"]
    assert [f["kind"] for f in changes[2]["fields"]] == ["expression"]


def test_added_removed_type_changed_and_moved() -> None:
    b = copy.deepcopy(V1)
    steps = b["steps"]
    steps.insert(3, {"id": "nudge", "type": "state.set", "config": {"state": "N"}})  # added
    steps[2] = {"id": "pause", "type": "event.wait", "config": {"eventName": "go"}}  # type
    hello = steps.pop(0)
    steps.insert(2, hello)  # order: hello now after send and pause
    vip = next(s for s in steps if s["id"] == "vip")
    vip["else"].append(vip["then"].pop())  # gift moves from then to else
    each = next(s for s in steps if s["id"] == "each")
    each["body"].pop()  # second removed
    changes = {(c["stepId"], c["change"]): c for c in _changes(b)}
    assert set(changes) == {
        ("hello", "moved"),
        ("pause", "typeChanged"),
        ("nudge", "added"),
        ("gift", "moved"),
        ("second", "removed"),
    }
    assert changes[("hello", "moved")]["moved"] == "order"
    assert changes[("gift", "moved")]["moved"] == "parent"
    assert changes[("gift", "moved")]["from"]["pipe"] == "then"
    assert changes[("gift", "moved")]["to"]["pipe"] == "else"
    assert changes[("pause", "typeChanged")]["fromType"] == "time.wait"
    assert changes[("second", "removed")]["to"] is None


def test_reachability_follows_the_tree() -> None:
    index = index_steps(load_definition(V1))
    assert reachable(index, "send") >= {"pause", "vip", "gift", "plain", "each", "done"}
    assert "hello" not in reachable(index, "send")
    # inside then: the else arm was not taken, the rest of the pipeline follows
    assert "plain" not in reachable(index, "gift") and "each" in reachable(index, "gift")
    # inside a loop body: later iterations run the whole body again
    assert {"first", "second", "done"} <= reachable(index, "second")


def _impacts(b: dict[str, Any], positions: dict[frozenset[str], int]) -> dict[tuple, Any]:
    a_def, b_def = load_definition(V1), load_definition(b)
    diff = diff_definitions(a_def, b_def)
    impacts = assess(diff, a_def, b_def, positions)
    return {
        (c.step_id, c.change): impact.to_dict()
        for c, impact in zip(diff.steps, impacts, strict=True)
    }


def test_each_change_counts_runs_at_before_and_after_and_is_classified() -> None:
    b = copy.deepcopy(V1)
    b["steps"][1]["config"]["subject"] = "Hello"  # send changed
    b["steps"][2] = {"id": "pause", "type": "event.wait", "config": {"eventName": "go"}}
    b["steps"].insert(4, {"id": "nudge", "type": "state.set", "config": {"state": "N"}})
    b["steps"][0]["config"]["state"] = "B"  # hello: every run is past it
    positions = {
        frozenset({"pause"}): 3,  # parked in the delay
        frozenset({"send"}): 2,  # calling the email action
        frozenset({"second"}): 1,  # inside the loop
    }
    impacts = _impacts(b, positions)
    assert impacts[("hello", "changed")] == {
        "runs": {"at": 0, "before": 0, "after": 6},
        "classification": "safe",
    }
    assert impacts[("send", "changed")] == {
        "runs": {"at": 2, "before": 0, "after": 4},
        "classification": "affects-in-flight",
    }
    assert impacts[("pause", "typeChanged")] == {
        "runs": {"at": 3, "before": 2, "after": 1},
        "classification": "needs-mapping",
    }
    # nudge is inserted after vip, before each: runs in the delay and at send pass there
    assert impacts[("nudge", "added")] == {
        "runs": {"at": 0, "before": 5, "after": 1},
        "classification": "affects-in-flight",
    }


def test_a_removed_step_nobody_stands_on_is_not_a_mapping_problem() -> None:
    b = copy.deepcopy(V1)
    b["steps"][4]["body"].pop()  # remove "second"
    upstream = _impacts(b, {frozenset({"hello"}): 4})[("second", "removed")]
    assert upstream == {
        "runs": {"at": 0, "before": 4, "after": 0},
        "classification": "affects-in-flight",
    }
    nobody = _impacts(b, {frozenset({"done"}): 4})[("second", "removed")]
    assert nobody["classification"] == "safe"
    parked = _impacts(b, {frozenset({"second"}): 1, frozenset({"done"}): 1})
    assert parked[("second", "removed")] == {
        "runs": {"at": 1, "before": 0, "after": 1},
        "classification": "needs-mapping",
    }
