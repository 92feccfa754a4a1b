"""Counts you can trust: four worker processes on one PostgreSQL drive a randomized mix of runs
(event waits with and without timeouts, timers, human tasks, child runs, parallel branches,
loops, retry backoffs, failures) while the test sends events, completes tasks, cancels,
retries and resumes runs and publishes a second version. At moments in the middle of it and
once at the end, the counts the API serves are compared with a full recount of every run's
state, both read in one REPEATABLE READ snapshot: they must be equal, group for group."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fleet import Fleet, prepare

from builders import action_call, call_workflow, event_wait, expr, human_task, time_wait, workflow
from flowpin.api import create_app
from flowpin.engine import Engine
from flowpin.engine.counts import step_counts
from flowpin.store import tables as t

LEASE = 10.0
RUNS = 400
SEED = 12
KINDS = (
    "event",
    "short_event",
    "timer",
    "short_timer",
    "task",
    "fan",
    "loop",
    "fail",
    "child",
    "retry_long",
    "retry_short",
)
WAITS = ("event", "timer", "task", "child", "retry")


def _effect(step_id: str) -> dict[str, Any]:
    return action_call(step_id, "fleet.effect", inputMapping={"n": 1})


def _case(kind: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"k_{kind}", "when": {"$expr": f"payload.kind = '{kind}'"}, "steps": list(steps)}


def _unavailable(step_id: str, backoff_ms: int) -> dict[str, Any]:
    """A call to a system that is down: retried after ``backoff_ms``, 3 attempts, then it fails."""
    retry = {"maxAttempts": 3, "backoffMs": backoff_ms, "jitter": "none"}
    return action_call(step_id, "fleet.unavailable", retry=retry)


def _wait(step_id: str, ms: int | None = None) -> dict[str, Any]:
    """A timer of ``ms``, or of the run's ``payload.ms`` (100 ms, 300 ms or an hour)."""
    if ms is not None:
        return time_wait(step_id, ms)
    until = expr("$fromMillis($millis() + payload.ms)")
    return {"id": step_id, "type": "time.wait", "config": {"until": until}}


def mixed(label: str) -> dict[str, Any]:
    return {
        "key": "mixed",
        "steps": [
            _effect("first"),
            {
                "id": "route",
                "type": "control.switch",
                "cases": [
                    _case("event", event_wait("e", "poke")),
                    _case(
                        "short_event",
                        event_wait("se", "poke", timeoutMs=300, onTimeout="continue"),
                    ),
                    _case("timer", _wait("t", 3_600_000)),
                    _case("short_timer", _wait("st", 200)),
                    _case("task", human_task("ask")),
                    _case(
                        "fan",
                        {
                            "id": "fan",
                            "type": "control.parallel",
                            "branches": [
                                {"id": "l", "steps": [event_wait("le", "poke")]},
                                {"id": "r", "steps": [_wait("rt")]},
                            ],
                        },
                    ),
                    _case(
                        "loop",
                        {
                            "id": "each",
                            "type": "control.forEach",
                            "items": {"$expr": "payload.items"},
                            "concurrency": 2,
                            "body": [_effect("inner"), _wait("iw")],
                        },
                    ),
                    _case("fail", {"id": "boom", "type": "control.fail", "message": label}),
                    _case("retry_long", _unavailable("slow_retry", 3_600_000)),
                    _case("retry_short", _unavailable("fast_retry", 100)),
                    _case("child", call_workflow("call", "kid")),
                ],
            },
            _effect("last"),
        ],
    }


KID = workflow("kid", event_wait("kid_wait", "kid.go"))


# ------------------------------------------------------------------------ the recount


def _leaves(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """Leaf frames, walked here on their own (not with flowpin's helpers): the recount must
    not share code with what it checks."""
    if "c" in frame:
        return _leaves(frame["c"])
    for key in ("it", "br"):
        if key in frame:
            return [leaf for r in frame[key].values() if "c" in r for leaf in _leaves(r["c"])]
    return [frame]


def _places(state: dict[str, Any]) -> set[tuple[str, str]]:
    if state["status"] == "FAILED":
        step = (state.get("failed") or {}).get("stepId")
        return {(step, "failed")} if step else set()
    if state.get("root") is None:
        return set()
    places = set()
    for leaf in _leaves(state["root"]):
        if leaf.get("s") is None:
            continue
        status = leaf.get("st")
        places.add((leaf["s"], status if status in WAITS else "running"))
    return places


def recount(conn: sa.Connection, workflow: str) -> dict[str, Any]:
    """The counts rebuilt from every run's full state."""
    rows = conn.execute(
        sa.select(t.runs.c.version_number, t.runs.c.status, t.runs.c.state).where(
            t.runs.c.workflow_key == workflow
        )
    ).all()
    versions: dict[str, Any] = {}
    for number, status, state in rows:
        if status in ("SUCCEEDED", "CANCELED"):
            continue
        version = versions.setdefault(
            str(number),
            {"active": 0, "running": 0, "waiting": 0, "failed": 0, "kinds": {}, "steps": {}},
        )
        if status == "FAILED":
            version["failed"] += 1
        else:
            version["active"] += 1
            version["waiting" if status == "WAITING" else "running"] += 1
        places = _places(state)
        for kind in {kind for _, kind in places if kind in WAITS}:
            version["kinds"][kind] = version["kinds"].get(kind, 0) + 1
        for step, kind in places:
            counts = version["steps"].setdefault(step, {})
            counts[kind] = counts.get(kind, 0) + 1
    return versions


def served(counts: dict[str, Any]) -> dict[str, Any]:
    """The API's answer in the recount's shape (zeros dropped)."""
    versions = {}
    for number, version in counts["byVersion"].items():
        steps = {}
        for step_id, c in version["steps"].items():
            flat = {"running": c["running"], "failed": c["failed"], **c["waitingByKind"]}
            steps[step_id] = {k: v for k, v in flat.items() if v}
        versions[number] = {
            "active": version["active"],
            "running": version["running"],
            "waiting": version["waiting"],
            "failed": version["failed"],
            "kinds": {k: v for k, v in version["waitingByKind"].items() if v},
            "steps": {k: v for k, v in steps.items() if v},
        }
    return versions


def compare(engine: Engine, snapshots: list[str]) -> None:
    """Counts and recount in one snapshot of the database, while the workers keep going."""
    with engine.db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            for workflow in ("mixed", "kid"):
                api = served(step_counts(conn, "default", workflow))
                full = recount(conn, workflow)
                assert api == full, (workflow, api, full)

                def total(name: str, versions: dict[str, Any] = full) -> int:
                    return sum(v[name] for v in versions.values())

                steps = sum(len(v["steps"]) for v in full.values())
                snapshots.append(
                    f"{workflow}: running {total('running')}, waiting {total('waiting')}, "
                    f"failed {total('failed')} on {len(full)} version(s), {steps} steps: equal"
                )


def _through_http(engine: Engine, workflow: str) -> dict[str, Any]:
    """``GET /api/workflows/{key}/counts`` from the app (in-process ASGI, no socket)."""
    key = engine.create_api_key("viewer").key

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://flowpin.test") as c:
            return await c.get(
                f"/api/workflows/{workflow}/counts", headers={"Authorization": f"Bearer {key}"}
            )

    response = asyncio.run(get())
    assert response.status_code == 200, response.text
    return dict(response.json())


# ------------------------------------------------------------------------ the workload


def _payload(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(KINDS)
    return {
        "kind": kind,
        "ms": rng.choice([100, 300, 3_600_000]),
        "items": list(range(rng.randint(1, 4))),
    }


def _poke(engine: Engine, rng: random.Random, subjects: list[str]) -> None:
    for subject in rng.sample(subjects, min(len(subjects), 10)):
        engine.send_event("poke", subject, {"by": "test"})
    engine.send_event("kid.go", rng.choice(subjects), {})


def _operate(engine: Engine, rng: random.Random, subjects: list[str]) -> None:
    """One random round of what operators and applications do to runs in flight."""
    action = rng.choice(("poke", "task", "cancel", "retry", "resume"))
    if action == "poke":
        _poke(engine, rng, subjects)
    elif action == "task":  # a few always stay open: the end checks runs waiting on tasks
        tasks = engine.list_tasks()
        for task in tasks[: min(5, len(tasks) - 5)]:
            engine.complete_task(task["taskId"], {})
    elif action in ("cancel", "resume"):
        status = "WAITING" if action == "resume" else None
        runs = engine.list_runs(workflow="mixed", status=status, limit=50)
        active = [r for r in runs if r["status"] in ("PENDING", "RUNNING", "WAITING")]
        for run in rng.sample(active, min(len(active), 3)):
            getattr(engine, action)(run["runId"])
    else:
        failed = engine.list_runs(workflow="mixed", status="FAILED", limit=20)
        for run in rng.sample(failed, min(len(failed), 3)):
            engine.retry(run["runId"])


@pytest.mark.timeout(300)
def test_counts_equal_a_full_recount_under_four_workers(
    pg_url: str, tmp_path: Path, closing: Callable[[Engine], Engine]
) -> None:
    rng = random.Random(SEED)
    engine = closing(prepare(pg_url, LEASE))
    engine.publish(KID)
    engine.publish(mixed("v1"))
    fleet = Fleet(pg_url, tmp_path / "workers.log", LEASE)
    snapshots: list[str] = []
    subjects: list[str] = []
    try:
        fleet.start(4)
        began = time.monotonic()
        for index in range(RUNS):
            subject = f"s-{index}"
            subjects.append(subject)
            engine.start("mixed", _payload(rng), subject=subject)
            if index % 40 == 39:
                _operate(engine, rng, subjects)
            if index == RUNS // 2:
                engine.publish(mixed("v2"))  # half the runs start on version 2
            if index % 100 == 99:
                compare(engine, snapshots)
        for _ in range(30):
            _operate(engine, rng, subjects)
            time.sleep(0.05)  # the point: operators act while the workers move runs along
        compare(engine, snapshots)
        time.sleep(1.0)  # short timers and timeouts fire, workers settle
        assert not fleet.dead(), fleet.tail()
    finally:
        fleet.stop()
    compare(engine, snapshots)
    took = time.monotonic() - began
    final = _through_http(engine, "mixed")
    with engine.db.read() as conn:
        assert served(final) == recount(conn, "mixed")  # the endpoint itself, once quiet
    print(f"\ncounts recount: {RUNS} runs + children in {took:.1f}s; snapshots compared:")
    print("\n".join(snapshots))
    print("final totals:", final["total"], "older:", final["activeOnOlderVersions"])
    # The workload reached every kind of position the counts distinguish.
    assert final["total"]["failed"] > 0 and final["total"]["active"] > 0
    kinds = final["total"]["waitingByKind"]
    assert all(kinds[kind] > 0 for kind in ("event", "timer", "task", "child", "retry")), kinds
    assert final["activeOnOlderVersions"] > 0
