"""`GET /api/workflows/{key}/counts`: runs per version and per step — running, waiting by kind
(event, timer, task, child, retry), failed — with totals and the active runs on older versions,
kept current by every transition."""

from __future__ import annotations

import copy
from typing import Any

from apikit import Client
from pydantic import BaseModel

from builders import (
    action_call,
    call_workflow,
    event_wait,
    expr,
    human_task,
    returns,
    time_wait,
    workflow,
)
from flowpin import Engine
from flowpin.registry.actions import ActionError, action


class Nothing(BaseModel):
    pass


@action("counts.unavailable", version=1, effect="idempotent")
def unavailable(data: Nothing) -> Nothing:
    raise ActionError("try again later", retryable=True)


def _case(kind: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"c_{kind}", "when": {"$expr": f"payload.kind = '{kind}'"}, "steps": list(steps)}


HOUR = 3_600_000
MIX: dict[str, Any] = {
    "key": "mix",
    "steps": [
        {
            "id": "route",
            "type": "control.switch",
            "cases": [
                _case("event", event_wait("on_event", "go")),
                _case("timer", time_wait("on_timer", HOUR)),
                _case("task", human_task("on_task", "Check")),
                _case("child", call_workflow("on_child", "child")),
                _case(
                    "retry",
                    action_call(
                        "on_retry",
                        "counts.unavailable",
                        retry={"maxAttempts": 5, "backoffMs": HOUR, "jitter": "none"},
                    ),
                ),
                _case("fail", {"id": "on_fail", "type": "control.fail", "message": "boom"}),
                _case(
                    "fan",
                    {
                        "id": "fan",
                        "type": "control.parallel",
                        "branches": [
                            {"id": "left", "steps": [event_wait("l_wait", "l")]},
                            {"id": "right", "steps": [time_wait("r_timer", HOUR)]},
                        ],
                    },
                ),
            ],
        },
        returns("done", expr("payload")),
    ],
}
CHILD = workflow("child", event_wait("child_wait", "child.go"))


def _waiting(**kinds: int) -> dict[str, int]:
    return {kind: kinds.get(kind, 0) for kind in ("event", "timer", "task", "child", "retry")}


def _step(running: int = 0, failed: int = 0, **kinds: int) -> dict[str, Any]:
    return {
        "running": running,
        "waiting": sum(kinds.values()),
        "waitingByKind": _waiting(**kinds),
        "failed": failed,
    }


def test_counts_per_version_step_and_wait_kind(client: Client, engine: Engine) -> None:
    engine.register(unavailable)
    engine.publish(CHILD)
    engine.publish(MIX)
    kinds = ["event", "event", "timer", "task", "child", "retry", "fail", "fan"]
    for index, kind in enumerate(kinds):
        engine.start("mix", {"kind": kind}, subject=f"s-{index}")
    engine.run_worker(until_idle=True)
    v2 = copy.deepcopy(MIX)
    v2["steps"][1]["output"] = {"$expr": "payload.kind"}
    engine.publish(v2)
    engine.start("mix", {"kind": "event"}, subject="on-v2")
    engine.run_worker(until_idle=True)
    # Not worked yet (PENDING): running at the first step.
    engine.start("mix", {"kind": "event"}, subject="pending-v1", version=1)
    engine.start("mix", {"kind": "timer"}, subject="pending-v2")

    counts = client.get("/api/workflows/mix/counts")
    assert counts.status_code == 200, counts.text
    body = counts.json()
    v1 = body["byVersion"]["1"]
    assert {k: v1[k] for k in ("active", "running", "waiting", "failed")} == {
        "active": 8,
        "running": 1,
        "waiting": 7,
        "failed": 1,
    }
    assert v1["waitingByKind"] == _waiting(event=3, timer=2, task=1, child=1, retry=1)
    assert v1["steps"] == {
        "route": _step(running=1),
        "on_event": _step(event=2),
        "on_timer": _step(timer=1),
        "on_task": _step(task=1),
        "on_child": _step(child=1),
        "on_retry": _step(retry=1),
        "on_fail": _step(failed=1),
        "l_wait": _step(event=1),
        "r_timer": _step(timer=1),
    }
    v2_counts = body["byVersion"]["2"]
    assert (v2_counts["active"], v2_counts["running"], v2_counts["waiting"]) == (2, 1, 1)
    assert v2_counts["steps"] == {"on_event": _step(event=1), "route": _step(running=1)}
    assert body["latestVersion"] == 2 and body["activeOnOlderVersions"] == 8
    assert body["total"] == {
        "active": 10,
        "running": 2,
        "waiting": 8,
        "waitingByKind": _waiting(event=4, timer=2, task=1, child=1, retry=1),
        "failed": 1,
    }
    child = client.get("/api/workflows/child/counts").json()
    assert child["byVersion"]["1"]["steps"] == {"child_wait": _step(event=1)}

    # Transitions move the counts with them: an event resumes the parked event waiters (not
    # the PENDING run, which parks on it afterwards), a cancel, and a retry that fails again.
    for subject in ("s-0", "s-1"):  # an event wait's key defaults to the run's subject
        assert engine.send_event("go", subject, {}).resumed
    run_ids = {r["subject"]: r["runId"] for r in engine.list_runs(workflow="mix", limit=100)}
    engine.cancel(run_ids["s-2"])
    engine.run_worker(until_idle=True)
    after = client.get("/api/workflows/mix/counts").json()
    v1_after = after["byVersion"]["1"]
    assert (v1_after["active"], v1_after["running"], v1_after["waiting"]) == (5, 0, 5)
    assert v1_after["steps"]["on_event"] == _step(event=1)
    assert "on_timer" not in v1_after["steps"] and "route" not in v1_after["steps"]
    assert after["byVersion"]["2"]["steps"] == {
        "on_event": _step(event=1),
        "on_timer": _step(timer=1),
    }
    engine.retry(run_ids["s-6"])
    assert client.get("/api/workflows/mix/counts").json()["byVersion"]["1"]["failed"] == 0
    engine.run_worker(until_idle=True)
    again = client.get("/api/workflows/mix/counts").json()["byVersion"]["1"]
    assert again["failed"] == 1 and again["steps"]["on_fail"] == _step(failed=1)
    assert client.get("/api/workflows/nope/counts").status_code == 404
