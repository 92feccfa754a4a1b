"""Runaway work is bounded (SPEC §8): ``control.callWorkflow`` cycles are reported at publish,
call depth is limited at run time (``limit.depth``) and so are the children of one run
(``limit.children``)."""

from __future__ import annotations

from typing import Any

from flowpin.engine import Engine


def _caller(key: str, callee: str, *, version: int | str = "latest") -> dict[str, Any]:
    return {
        "key": key,
        "steps": [
            {
                "id": "call",
                "type": "control.callWorkflow",
                "workflowKey": callee,
                "version": version,
                "inputMapping": {"n": 1},
            }
        ],
    }


def _leaf(key: str) -> dict[str, Any]:
    return {"key": key, "steps": [{"id": "end", "type": "control.return", "output": "leaf"}]}


def _runs(engine: Engine, workflow: str) -> list[dict[str, Any]]:
    return [engine.get_run(r["runId"]) for r in engine.list_runs(workflow=workflow, limit=100)]


def _cycles(problems: list[dict[str, Any]]) -> list[list[str]]:
    return [p["details"]["cycle"] for p in problems if p["code"] == "CALL_CYCLE"]


def test_publishing_a_self_call_warns_with_the_cycle(db_url: str) -> None:
    with Engine(db_url) as engine:
        published = engine.publish(_caller("selfie", "selfie"))
        (warning,) = [p for p in published.problems if p["code"] == "CALL_CYCLE"]
        assert warning["severity"] == "warning"
        assert warning["stepId"] == "call"
        assert warning["details"]["cycle"] == ["selfie", "selfie"]
        assert "selfie → selfie" in warning["message"]


def test_publishing_the_workflow_that_closes_an_indirect_cycle_warns(db_url: str) -> None:
    with Engine(db_url) as engine:
        assert _cycles(engine.publish(_caller("a", "b")).problems) == []  # b does not exist yet
        assert _cycles(engine.publish(_caller("b", "c")).problems) == []
        assert _cycles(engine.publish(_caller("c", "a")).problems) == [["c", "a", "b", "c"]]
        # A caller of the cycle that is not on it is told about it too.
        assert _cycles(engine.publish(_caller("d", "a")).problems) == [["a", "b", "c", "a"]]


def test_calls_without_a_cycle_and_pinned_old_versions_publish_without_a_warning(
    db_url: str,
) -> None:
    with Engine(db_url) as engine:
        engine.publish(_leaf("a"))  # version 1 calls nobody
        engine.publish(_caller("b", "a"))
        assert _cycles(engine.publish(_caller("c", "b")).problems) == []
        # a version 2 that calls b, which calls a's latest: a cycle
        assert _cycles(engine.publish(_caller("a", "b")).problems) == [["a", "b", "a"]]
        # pinned to version 1 of a, which calls nobody: no cycle
        assert _cycles(engine.publish(_caller("b", "a", version=1)).problems) == []


def test_a_self_calling_workflow_stops_at_the_default_depth_with_limit_depth(db_url: str) -> None:
    with Engine(db_url) as engine:
        engine.publish(_caller("selfie", "selfie"))
        root = engine.start("selfie", {})
        engine.run_worker(until_idle=True)

        runs = _runs(engine, "selfie")
        assert len(runs) == 18  # the root, 16 nested calls, and the one refused
        assert {run["status"] for run in runs} == {"FAILED"}
        refused = [run for run in runs if (run["error"] or {}).get("code") == "limit.depth"]
        assert len(refused) == 1
        error = refused[0]["error"]
        assert error["category"] == "LimitError"
        assert error["data"]["limit"] == 16
        assert error["data"]["depth"] == 17
        # The failure unwinds to the root through every waiting parent.
        root_error = engine.get_run(root)["error"]
        assert root_error["stepId"] == "call"


def test_the_call_depth_limit_is_configurable_and_a_parent_may_catch_it(db_url: str) -> None:
    guarded = {
        "key": "guarded",
        "steps": [
            {
                "id": "guard",
                "type": "control.tryCatch",
                "try": [
                    {
                        "id": "call",
                        "type": "control.callWorkflow",
                        "workflowKey": "guarded",
                        "inputMapping": {},
                    }
                ],
                "catch": [],
                "captureErrorAs": "vars.caught",
            },
            {"id": "end", "type": "control.return", "output": {"$expr": "vars.caught.data"}},
        ],
    }
    with Engine(db_url, max_call_depth=3) as engine:
        engine.publish(guarded)
        root = engine.start("guarded", {})
        engine.run_worker(until_idle=True)

        runs = _runs(engine, "guarded")
        assert len(runs) == 5  # depths 0..3, and the refused depth 4
        run = engine.get_run(root)
        assert run["status"] == "SUCCEEDED"
        statuses = sorted(r["status"] for r in runs)
        assert statuses == ["FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]
        (refused,) = [r for r in runs if r["status"] == "FAILED"]
        assert refused["error"]["code"] == "limit.depth"
        assert refused["error"]["data"] == {
            "limit": 3,
            "depth": 4,
            "parentRunId": refused["parentRunId"],
        }


def test_a_run_starting_more_children_than_allowed_fails_with_limit_children(
    db_url: str,
) -> None:
    fan_out = {
        "key": "fan",
        "steps": [
            {
                "id": "each",
                "type": "control.forEach",
                "items": {"$expr": "[1..10]"},
                "body": [
                    {
                        "id": "spawn",
                        "type": "control.callWorkflow",
                        "workflowKey": "leaf",
                        "inputMapping": {},
                    }
                ],
            }
        ],
    }
    with Engine(db_url, max_children_per_run=3) as engine:
        engine.publish(_leaf("leaf"))
        engine.publish(fan_out)
        root = engine.start("fan", {})
        engine.run_worker(until_idle=True)

        run = engine.get_run(root)
        assert run["status"] == "FAILED"
        error = run["error"]
        assert (error["category"], error["code"]) == ("LimitError", "limit.children")
        assert error["data"] == {"limit": 3, "children": 4}
        assert "limit is 3 per run" in error["message"]
        assert len(engine.list_runs(workflow="leaf")) == 3
