"""Shadow replay (SPEC §5, issue 12 point 5) through ``Engine.shadow`` on SQLite and
PostgreSQL: a version re-evaluated against recorded runs, with their recorded outputs,
events and answers as stubs, calling nothing and writing nothing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

import sample_actions
from builders import action_call, assign, event_wait, expr, human_task, returns, workflow
from flowpin.registry.actions import action
from flowpin.store import tables as t


def echo(step_id: str, text: str) -> dict[str, Any]:
    return action_call(step_id, "test.echo", inputMapping={"text": text})


def orders(threshold: int, *, approve_text: str = "approve") -> dict[str, Any]:
    return workflow(
        "orders",
        assign("price", **{"vars.amount": expr("payload.amount")}),
        {
            "id": "big",
            "type": "control.if",
            "condition": {"field": "vars.amount", "op": "greaterThan", "value": threshold},
            "then": [echo("approve", approve_text)],
            "else": [echo("ship", "ship")],
        },
        event_wait("wait", "paid", saveAs="vars.paid"),
        returns("done", {"paid": expr("vars.paid")}),
    )


def _recorded(harness: Any) -> dict[int, str]:
    engine = harness.engine
    engine.publish(orders(100))
    runs = {}
    for amount in (50, 150, 10):
        runs[amount] = engine.start("orders", {"amount": amount}, subject=f"o{amount}")
    harness.work()
    engine.send_event("paid", "o50", {"ok": True})
    engine.send_event("paid", "o150", {"ok": True})
    harness.work()
    return runs


def _written(harness: Any) -> tuple[int, ...]:
    with harness.engine.db.read() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (t.runs, t.step_history, t.action_ledger, t.waits, t.events)
        )


def test_a_changed_condition_shows_the_first_divergent_step(harness: Any) -> None:
    engine = harness.engine
    runs = _recorded(harness)
    engine.publish(orders(40))
    calls, written = len(sample_actions.CALLS), _written(harness)

    report = engine.shadow("orders", version=2, runs=[runs[50], runs[150], runs[10]])

    assert (len(sample_actions.CALLS), _written(harness)) == (calls, written)
    by_run = {r["runId"]: r for r in report["runs"]}
    changed = by_run[runs[50]]
    assert changed["result"] == "diverges"
    divergence = changed["divergence"]
    assert (divergence["stepId"], divergence["what"]) == ("big", "branch")
    assert divergence["expected"]["output"] == {"branch": "then"}
    assert divergence["actual"]["output"] == {"branch": "else"}
    assert changed["stopped"]["stepId"] == "approve"
    assert changed["stopped"]["reason"] == "cannot replay past step 'approve': no recorded output"
    assert by_run[runs[150]]["result"] == "same"  # finished, same route and output
    parked = by_run[runs[10]]
    assert parked["result"] == "in-progress" and parked["stopped"]["stepId"] == "wait"
    assert report["summary"] == {"runs": 3, "diverges": 1, "same": 1, "in-progress": 1}


def test_a_changed_action_input_and_the_last_runs(harness: Any) -> None:
    engine = harness.engine
    runs = _recorded(harness)
    engine.publish(orders(100, approve_text="approve now"))
    report = engine.shadow("orders", version=2, last=2)
    assert {r["runId"] for r in report["runs"]} <= set(runs.values())
    full = engine.shadow("orders", version=2, last=10)
    by_run = {r["runId"]: r for r in full["runs"]}
    divergence = by_run[runs[150]]["divergence"]
    assert (divergence["stepId"], divergence["what"]) == ("approve", "input")
    assert divergence["expected"]["input"] == {"text": "approve now"}
    assert divergence["actual"]["input"] == {"text": "approve"}
    assert by_run[runs[50]]["result"] == "same"
    same = engine.shadow("orders", version=1, last=10)  # a version against its own runs
    assert {r["result"] for r in same["runs"]} == {"same", "in-progress"}


class Login(BaseModel):
    user: str


class Session(BaseModel):
    token: str


@action("test.login", version=1, effect="none")
def login(data: Login) -> Session:
    return Session(token=f"tok-{data.user}-1234567890")


def test_stubs_are_the_real_outputs_not_their_redacted_history(harness: Any) -> None:
    """History masks ``token`` values; the shadow feeds the ledger's real output, so a step
    computing from it gives what the run gave."""
    engine = harness.engine
    engine.register(login)
    call = action_call("login", "test.login", save_as="vars.session", inputMapping={"user": "ann"})
    size = assign("size", **{"vars.size": expr("$length(vars.session.token)")})
    engine.publish(workflow("login", call, size))
    run_id = engine.start("login", {})
    harness.work()
    [logged] = [e for e in engine.history(run_id) if e["stepId"] == "login"]
    assert logged["output"] == {"token": "[redacted]"}
    report = engine.shadow("login", version=1, runs=[run_id])
    assert report["runs"][0]["result"] == "same", report


def test_task_answers_timeouts_and_retries_are_replayed_from_the_recording(harness: Any) -> None:
    engine = harness.engine
    form = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    ask = human_task("ask", "Approve?", formSchema=form, saveAs="vars.answer")
    seen = event_wait("seen", "seen", timeoutMs=60_000, onTimeout="continue")
    flaky = action_call(
        "flaky",
        "test.flaky",
        inputMapping={"key": expr("run.id"), "failures": 1},
        retry={"maxAttempts": 3, "backoffMs": 1000},
    )

    def decide(expected: bool) -> dict[str, Any]:
        return {
            "id": "decide",
            "type": "control.if",
            "condition": {"field": "vars.answer.ok", "op": "equals", "value": expected},
            "then": [flaky],
            "else": [],
        }

    def version(expected: bool) -> dict[str, Any]:
        steps = [ask, seen, decide(expected), {"id": "done", "type": "control.return"}]
        return {"key": "approvals", "steps": steps}

    engine.publish(version(True))
    run_id = engine.start("approvals", {})
    harness.work()
    [task] = engine.list_tasks()
    engine.complete_task(task["taskId"], {"ok": True})
    harness.work()
    harness.advance(minutes=1)  # no "seen" event: the wait times out and continues
    harness.advance(seconds=5)  # the flaky call's retry
    assert engine.get_run(run_id)["status"] == "SUCCEEDED"
    calls = len(sample_actions.CALLS), dict(sample_actions.FLAKY)

    [same] = engine.shadow("approvals", version=1, runs=[run_id])["runs"]
    assert same["result"] == "same", same
    engine.publish(version(False))
    [flipped] = engine.shadow("approvals", version=2, runs=[run_id])["runs"]
    assert flipped["result"] == "diverges"
    assert flipped["divergence"]["stepId"] == "decide"
    assert flipped["divergence"]["expected"]["output"] == {"branch": "else"}
    assert (len(sample_actions.CALLS), dict(sample_actions.FLAKY)) == calls
