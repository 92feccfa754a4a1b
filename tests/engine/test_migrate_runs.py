"""Migrating runs in flight (SPEC §5, issue 12 point 4) through ``Engine.migrate``, on SQLite
and PostgreSQL: what a dry run reports per run, what a move does to waits, timers, loops and
history, and that a run a worker holds is never both run and moved."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from builders import HOUR_MS, event_wait, time_wait, workflow
from flowpin.engine.migrating import RunFilter
from flowpin.runtime.decisions import RunInfo, WaitResolved
from flowpin.runtime.interpreter import advance
from flowpin.store import claims
from flowpin.store import tables as t
from flowpin.store.waits import EndedWait, resolve_waits
from flowpin.worker.checkpoint import write_checkpoints
from flowpin.worker.checkpoint_batch import CheckpointRequest
from flowpin.worker.claimed import ClaimedRun


def assign(step_id: str, **values: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "transform.assign",
        "config": {"assign": {f"vars.{name}": value for name, value in values.items()}},
    }


def wait(step_id: str, event: str = "go", **config: Any) -> dict[str, Any]:
    """An event wait that saves what it receives under ``vars.<step_id>``."""
    return event_wait(step_id, event, saveAs=f"vars.{step_id}", **config)


def pause(step_id: str, hours: int = 1) -> dict[str, Any]:
    return time_wait(step_id, hours * HOUR_MS)


def done(**output: Any) -> dict[str, Any]:
    return {"id": "done", "type": "control.return", "output": output}


def flow(*steps: dict[str, Any]) -> dict[str, Any]:
    return workflow("moves", *steps)


V1 = flow(assign("set", a=1), wait("wait"), done(a={"$expr": "vars.a"}))
V2_EXTRA = flow(
    assign("set", a=1),
    wait("wait"),
    assign("extra", b="v2"),
    done(a={"$expr": "vars.a"}, b={"$expr": "vars.b"}),
)


def start(harness: Any, subject: str) -> str:
    run_id = harness.engine.start("moves", {}, subject=subject)
    harness.work()
    return run_id


def migrate(harness: Any, to: int = 2, from_version: int = 1, **options: Any) -> dict[str, Any]:
    return harness.engine.migrate("moves", from_version=from_version, to_version=to, **options)


def by_run(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["runId"]: run for run in report["runs"]}


def codes(report: dict[str, Any], run_id: str) -> list[str]:
    return [problem["code"] for problem in by_run(report)[run_id].get("problems", [])]


def test_a_parked_run_moves_keeps_its_wait_and_runs_the_new_step(harness: Any) -> None:
    engine = harness.engine
    engine.publish(V1)
    run_id = start(harness, "s1")
    engine.publish(V2_EXTRA)

    dry = migrate(harness)
    assert by_run(dry)[run_id]["result"] == "ok"
    assert by_run(dry)[run_id]["positions"][0]["action"] == "keep"
    assert engine.get_run(run_id)["version"] == 1  # a dry run moves nothing
    assert [e["type"] for e in engine.history(run_id)] == ["transform.assign"]

    applied = migrate(harness, dry_run=False)
    assert applied["summary"]["moved"] == 1
    run = engine.get_run(run_id)
    assert run["version"] == 2 and run["waitingFor"][0]["stepId"] == "wait"
    counts = engine.step_counts("moves")  # kept with the move, in the same statement
    assert counts["activeOnOlderVersions"] == 0 and list(counts["byVersion"]) == ["2"]
    assert counts["byVersion"]["2"]["steps"]["wait"]["waitingByKind"]["event"] == 1

    assert engine.send_event("go", "s1", {"ok": True}).resumed == [run_id]
    harness.work()
    run = engine.get_run(run_id, history=True)
    assert run["status"] == "SUCCEEDED" and run["output"] == {"a": 1, "b": "v2"}
    steps = [(e["stepId"], e["version"]) for e in run["history"]]
    assert steps == [("set", 1), ("$migration", 2), ("wait", 2), ("extra", 2), ("done", 2)]
    migration = run["history"][1]
    assert migration["type"] == "migration" and migration["status"] == "migrated"
    assert migration["input"]["positions"][0]["from"] == "wait"


def test_a_changed_event_needs_the_mapping_and_then_waits_anew(harness: Any) -> None:
    engine = harness.engine
    engine.publish(V1)
    run_id = start(harness, "s1")
    engine.publish(flow(assign("set", a=1), wait("wait", "start"), done(a={"$expr": "vars.a"})))

    dry = migrate(harness)
    [problem] = by_run(dry)[run_id]["problems"]
    assert (problem["code"], problem["stepId"], problem["token"]) == (
        "wait.event_changed",
        "wait",
        "wait",
    )
    assert "'go'" in problem["message"] and "'start'" in problem["message"]
    blocked = migrate(harness, dry_run=False)
    assert blocked["summary"]["blocked"] == 1 and engine.get_run(run_id)["version"] == 1

    moved = migrate(harness, dry_run=False, mapping={"wait": "wait"})
    assert by_run(moved)[run_id]["positions"][0]["action"] == "restart"
    harness.work()
    [waiting] = engine.get_run(run_id)["waitingFor"]
    assert waiting["eventName"] == "start"
    assert engine.send_event("go", "s1").resumed == []  # the old wait is closed
    assert engine.send_event("start", "s1", {"n": 1}).resumed == [run_id]
    harness.work()
    assert engine.get_run(run_id)["status"] == "SUCCEEDED"


def test_a_removed_step_must_be_mapped_and_a_mapping_may_change_its_kind(
    harness: Any,
) -> None:
    engine = harness.engine
    engine.publish(flow(assign("set", a=1), pause("pause"), done(a={"$expr": "vars.a"})))
    run_id = start(harness, "s1")
    engine.publish(flow(assign("set", a=1), wait("ask"), done(a={"$expr": "vars.a"})))

    [problem] = by_run(migrate(harness))[run_id]["problems"]
    assert (problem["code"], problem["stepId"]) == ("step.missing", "pause")

    moved = migrate(harness, dry_run=False, mapping={"pause": "ask"})
    [position] = by_run(moved)[run_id]["positions"]
    assert (position["fromStep"], position["toStep"], position["waiting"], position["action"]) == (
        "pause",
        "ask",
        "timer",
        "restart",
    )
    harness.work()
    run = engine.get_run(run_id)
    assert [w["kind"] for w in run["waitingFor"]] == ["event"]  # the timer is gone
    engine.send_event("go", "s1", {"x": 1})
    harness.work()
    assert engine.get_run(run_id)["output"] == {"a": 1}


def test_a_step_that_reads_a_variable_the_run_lacks_blocks_the_move(harness: Any) -> None:
    engine = harness.engine
    engine.publish(V1)
    run_id = start(harness, "s1")
    reads = {
        "id": "use",
        "type": "transform.assign",
        "config": {"assign": {"vars.c": {"$expr": "vars.missing + 1"}}},
    }
    # v2 sets it before the wait: new runs have it, the run parked at the wait does not
    engine.publish(
        flow(assign("set", a=1, missing=1), wait("wait"), reads, done(c={"$expr": "vars.c"}))
    )
    [problem] = by_run(migrate(harness))[run_id]["problems"]
    assert problem["code"] == "variable.undefined" and problem["stepId"] == "use"
    assert problem["details"] == {"variable": "vars.missing", "from": "wait"}
    assert migrate(harness, dry_run=False)["summary"]["blocked"] == 1
    # v3 never sets it (new runs lack it too: a warning of v3 itself, not the move's doing)
    engine.publish(flow(assign("set", a=1), wait("wait"), reads, done(c={"$expr": "vars.c"})))
    report = by_run(migrate(harness, to=3))[run_id]
    assert report["result"] == "ok" and report["warnings"][0]["details"]["variable"] == (
        "vars.missing"
    )
    # what the run really holds counts: vars.a exists, so reading it is fine
    engine.publish(
        flow(
            assign("set", a=1),
            wait("wait"),
            assign("use", c={"$expr": "vars.a + vars.wait.n"}),
            done(),
        )
    )
    assert by_run(migrate(harness, to=4))[run_id]["result"] == "ok"


def test_timers_keep_their_due_time_unless_reset(harness: Any) -> None:
    engine = harness.engine
    engine.publish(flow(assign("set", a=1), pause("pause", hours=5), done(a={"$expr": "vars.a"})))
    kept = start(harness, "kept")
    reset = start(harness, "reset")
    due = engine.get_run(kept)["waitingFor"][0]["dueAt"]
    engine.publish(flow(assign("set", a=1), pause("pause", hours=1), done(a={"$expr": "vars.a"})))
    harness.clock.advance(timedelta(hours=2))

    migrate(harness, dry_run=False, runs=[kept])
    migrate(harness, dry_run=False, runs=[reset], reset_timers=True)
    harness.work()
    assert engine.get_run(kept)["waitingFor"][0]["dueAt"] == due
    [timer] = engine.get_run(reset)["waitingFor"]
    assert timer["dueAt"] == (harness.clock.now() + timedelta(hours=1)).isoformat().replace(
        "+00:00", "Z"
    )
    harness.advance(hours=1)
    assert engine.get_run(reset)["status"] == "SUCCEEDED"
    assert engine.get_run(kept)["status"] == "WAITING"
    harness.advance(hours=2)
    assert engine.get_run(kept)["status"] == "SUCCEEDED"


def loop(*body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "loop",
        "type": "control.forEach",
        "items": {"$expr": "payload.items"},
        "concurrency": 2,
        "body": list(body),
        "saveAs": "vars.results",
    }


def test_iterations_of_a_foreach_move_into_the_same_foreach_only(harness: Any) -> None:
    engine = harness.engine
    item_wait = wait("each", correlationKey={"$expr": "$string(vars.item)"})
    engine.publish(flow(loop(item_wait), done(results={"$expr": "vars.results"})))
    run_id = engine.start("moves", {"items": [1, 2]})
    harness.work()
    assert sorted(w["token"] for w in engine.get_run(run_id)["waitingFor"]) == [
        "loop[0]/each",
        "loop[1]/each",
    ]
    # v2: the wait is no longer inside the loop
    engine.publish(flow(item_wait, loop(assign("noop", x=1)), done()))
    problems = by_run(migrate(harness))[run_id]["problems"]
    assert {p["code"] for p in problems} == {"step.moved"}
    assert {p["token"] for p in problems} == {"loop[0]/each", "loop[1]/each"}
    # v3: same loop, one more step in its body
    body = [item_wait, assign("mark", seen={"$expr": "vars.each.n"})]
    engine.publish(flow(loop(*body), done(results={"$expr": "vars.results"})))
    moved = migrate(harness, to=3, dry_run=False)
    assert by_run(moved)[run_id]["result"] == "moved"
    for n in (1, 2):
        engine.send_event("go", str(n), {"n": n})
    harness.work()
    run = engine.get_run(run_id, history=True)
    assert run["status"] == "SUCCEEDED" and engine.get_run(run_id)["version"] == 3
    marks = sorted(e["token"] for e in run["history"] if e["stepId"] == "mark")
    assert marks == ["loop[0]/mark", "loop[1]/mark"]


def test_finished_runs_and_runs_of_other_versions_are_never_moved(harness: Any) -> None:
    engine = harness.engine
    engine.publish(V1)
    finished = start(harness, "f")
    canceled = start(harness, "c")
    engine.send_event("go", "f")
    harness.work()
    engine.cancel(canceled)
    engine.publish(V2_EXTRA)
    newer = start(harness, "n")
    report = migrate(harness, dry_run=False, runs=[finished, canceled, newer, "nope"])
    assert [codes(report, r) for r in (finished, canceled, newer, "nope")] == [
        ["run.finished"],
        ["run.finished"],
        ["run.other_version"],
        ["run.not_found"],
    ]
    assert report["summary"] == {
        "selected": 4,
        "ok": 0,
        "moved": 0,
        "blocked": 4,
        "retryLater": 0,
    }
    assert engine.get_run(finished)["version"] == 1
    assert migrate(harness)["summary"]["selected"] == 0  # all-active: none on v1


def test_a_filter_selects_by_step_status_and_subject(harness: Any) -> None:
    engine = harness.engine
    engine.publish(flow(assign("set", a=1), wait("wait"), pause("pause"), done()))
    first = start(harness, "one")
    second = start(harness, "two")
    third = start(harness, "three")
    engine.send_event("go", "three")
    harness.work()
    engine.publish(flow(assign("set", a=1), wait("wait"), pause("pause"), assign("x", y=1), done()))
    assert {r["runId"] for r in migrate(harness, runs=RunFilter(step="wait"))["runs"]} == {
        first,
        second,
    }
    assert [r["runId"] for r in migrate(harness, runs=RunFilter(subject="two"))["runs"]] == [second]
    assert [
        r["runId"] for r in migrate(harness, runs=RunFilter(step="pause", status="WAITING"))["runs"]
    ] == [third]


def _stale_claim(harness: Any) -> Any:
    """Claim every runnable run as a worker would, and return its one claimed row."""
    with harness.engine.db.write() as conn:
        [row] = claims.claim_runs(conn, "stale", harness.clock.now(), 30, 10)
    return row


def test_a_claimed_run_is_busy_and_a_lapsed_claim_writes_nothing_after_the_move(
    harness: Any,
) -> None:
    engine = harness.engine
    engine.publish(V1)
    run_id = start(harness, "s1")
    engine.publish(V2_EXTRA)
    engine.send_event("go", "s1", {"ok": True})  # the run is due; a worker claims it
    row = _stale_claim(harness)

    busy = migrate(harness, dry_run=False)
    assert codes(busy, run_id) == ["run.busy"]
    assert by_run(busy)[run_id]["problems"][0]["retryable"] is True
    assert busy["summary"]["retryLater"] == 1 and engine.get_run(run_id)["version"] == 1

    harness.clock.advance(timedelta(seconds=31))  # the worker stalls past its lease
    assert migrate(harness, dry_run=False)["summary"]["moved"] == 1

    # the stalled worker wakes up and writes what it computed on v1: fenced, nothing written
    claimed = ClaimedRun.from_row(row)
    info = RunInfo(run_id, "moves", 1, "s1", claimed.created_at)
    event = {"id": "e", "name": "go", "key": "s1", "payload": {}, "receivedAt": "x"}
    resolved = WaitResolved("wait", "event", harness.clock.now(), event=event)
    v1 = engine.deps.definitions.definition_by_version(claimed.version_id)
    outcome = advance(v1, copy.deepcopy(claimed.state), info, [resolved])
    with engine.db.write() as conn:
        [result] = write_checkpoints(
            conn,
            [CheckpointRequest(claimed, outcome)],
            engine.deps.services("stale"),
            harness.clock.now(),
        )
    assert result.lost
    harness.work()
    run = engine.get_run(run_id, history=True)
    assert run["status"] == "SUCCEEDED" and run["output"] == {"a": 1, "b": "v2"}
    assert [e["stepId"] for e in run["history"]].count("done") == 1


def test_an_action_call_in_flight_blocks_the_move_until_it_settles(harness: Any) -> None:
    engine = harness.engine
    ticket = {
        "id": "ticket",
        "type": "action.call",
        "config": {
            "actionId": "crm.create_ticket",
            "version": 1,
            "inputMapping": {"subject": "hello"},
            "saveAs": "vars.ticket",
        },
    }
    engine.publish(flow(ticket, done(t={"$expr": "vars.ticket"})))
    run_id = engine.start("moves", {})
    row = _stale_claim(harness)  # a worker starts the call, then stalls
    claimed = ClaimedRun.from_row(row)
    info = RunInfo(run_id, "moves", 1, None, claimed.created_at)
    outcome = advance(
        engine.deps.definitions.definition_by_version(claimed.version_id), claimed.state, info
    )
    with engine.db.write() as conn:
        write_checkpoints(
            conn,
            [CheckpointRequest(claimed, outcome, new_calls=list(outcome.commands))],
            engine.deps.services("stale"),
            harness.clock.now(),
        )
    engine.publish(flow(ticket, assign("after", x=1), done(t={"$expr": "vars.ticket"})))
    harness.clock.advance(timedelta(seconds=31))

    report = migrate(harness, dry_run=False)
    assert codes(report, run_id) == ["action.in_flight"]
    assert by_run(report)[run_id]["problems"][0]["retryable"] is True
    harness.work()  # the call is taken over and settles; the run finishes on v1
    assert engine.get_run(run_id)["status"] == "SUCCEEDED"
    assert engine.get_run(run_id)["version"] == 1


def test_a_waiting_step_wrapped_in_a_trycatch_still_moves(harness: Any) -> None:
    engine = harness.engine
    engine.publish(V1)
    run_id = start(harness, "s1")
    guarded = {
        "id": "guard",
        "type": "control.tryCatch",
        "try": [wait("wait")],
        "catch": [assign("failed", f=True)],
    }
    engine.publish(flow(assign("set", a=1), guarded, done(a={"$expr": "vars.a"})))
    moved = migrate(harness, dry_run=False)
    assert by_run(moved)[run_id]["result"] == "moved"
    engine.send_event("go", "s1", {"x": 1})
    harness.work()
    run = engine.get_run(run_id, history=True)
    assert run["status"] == "SUCCEEDED" and run["output"] == {"a": 1}
    assert [e["stepId"] for e in run["history"]][-3:] == ["wait", "guard", "done"]

    # into a catch it never entered: refused
    second = engine.start("moves", {}, subject="s2", version=1)
    harness.work()
    caught = {**guarded, "try": [assign("noop", n=1)], "catch": [wait("wait")]}
    engine.publish(flow(assign("set", a=1), caught, done()))
    [problem] = by_run(migrate(harness, to=3, runs=[second]))[second]["problems"]
    assert problem["code"] == "step.moved" and "catch" in problem["message"]


def test_parallel_branches_move_together_and_must_match(harness: Any) -> None:
    engine = harness.engine

    def fan(*branch_ids: str) -> dict[str, Any]:
        return {
            "id": "fan",
            "type": "control.parallel",
            "branches": [{"id": b, "steps": [wait(f"w{b}", f"go-{b}")]} for b in branch_ids],
        }

    engine.publish(flow(fan("a", "b"), done()))
    run_id = start(harness, "p")
    assert sorted(w["token"] for w in engine.get_run(run_id)["waitingFor"]) == [
        "fan:a/wa",
        "fan:b/wb",
    ]
    engine.publish(flow(fan("a", "b", "c"), done()))
    [problem] = by_run(migrate(harness))[run_id]["problems"]
    assert problem["code"] == "parallel.branches_changed"
    engine.publish(flow(fan("a", "b"), assign("after", x=1), done(x={"$expr": "vars.x"})))
    moved = migrate(harness, to=3, dry_run=False)
    tokens = sorted(p["to"] for p in by_run(moved)[run_id]["positions"])
    assert tokens == ["fan:a/wa", "fan:b/wb"]
    engine.send_event("go-a", "p")
    engine.send_event("go-b", "p")
    harness.work()
    assert engine.get_run(run_id)["output"] == {"x": 1}


def test_a_retry_backoff_keeps_its_attempt_and_due_time(harness: Any) -> None:
    engine = harness.engine
    flaky = {
        "id": "flaky",
        "type": "action.call",
        "config": {
            "actionId": "test.flaky",
            "version": 1,
            "inputMapping": {"key": {"$expr": "run.id"}, "failures": 1},
        },
        "retry": {"maxAttempts": 3, "backoffMs": 60_000},
    }
    engine.publish(flow(flaky, done()))
    run_id = engine.start("moves", {})
    harness.work()
    [backoff] = engine.get_run(run_id)["waitingFor"]
    assert backoff["reason"] == "retry"
    engine.publish(flow(flaky, assign("after", x=2), done(x={"$expr": "vars.x"})))
    moved = migrate(harness, dry_run=False)
    assert by_run(moved)[run_id]["positions"][0]["waiting"] == "retry"
    assert engine.get_run(run_id)["waitingFor"][0]["dueAt"] == backoff["dueAt"]
    harness.advance(minutes=1)
    run = engine.get_run(run_id, history=True)
    assert run["output"] == {"x": 2}
    attempts = [
        (e["attempt"], e["status"], e["version"]) for e in run["history"] if e["stepId"] == "flaky"
    ]
    assert attempts == [(1, "retrying", 1), (2, "succeeded", 2)]


def test_a_parent_waiting_for_its_child_moves_and_gets_the_child_result(harness: Any) -> None:
    engine = harness.engine
    engine.publish({"key": "child", "steps": [wait("hold", "child-go"), done(ok=True)]})
    call = {
        "id": "call",
        "type": "control.callWorkflow",
        "workflowKey": "child",
        "saveAs": "vars.child",
    }
    engine.publish(flow(call, done(child={"$expr": "vars.child"})))
    parent = start(harness, "c1")
    assert engine.get_run(parent)["waitingFor"][0]["kind"] == "child"
    engine.publish(
        flow(call, assign("after", x=3), done(child={"$expr": "vars.child"}, x={"$expr": "vars.x"}))
    )
    moved = migrate(harness, dry_run=False)
    assert by_run(moved)[parent]["positions"][0]["waiting"] == "child"
    engine.send_event("child-go", "c1")
    harness.work()
    assert engine.get_run(parent)["output"] == {"child": {"ok": True}, "x": 3}
    # a child wait never restarts at another kind of step
    other = start(harness, "c2")
    engine.publish(flow(wait("call"), done()))
    [problem] = by_run(
        migrate(harness, from_version=2, to=3, runs=[other], mapping={"call": "call"})
    )[other]["problems"]
    assert problem["code"] == "step.incompatible" and "child run" in problem["message"]


def test_an_event_claimed_while_its_wait_was_renamed_still_reaches_the_run(
    harness: Any,
) -> None:
    """On PostgreSQL an event may read a wait just before a migration renames it and claim it
    just after: its input then names the old position. The run takes it where it moved."""
    engine = harness.engine
    engine.publish(V1)
    run_id = start(harness, "s1")
    engine.publish(flow(assign("set", a=1), wait("hold"), done(hold={"$expr": "vars.hold"})))
    moved = migrate(harness, dry_run=False, mapping={"wait": "hold"})
    assert by_run(moved)[run_id]["positions"][0]["to"] == "hold"
    now = harness.clock.now()
    with engine.db.write() as conn:  # what the racing event's transaction writes
        [wait_id] = conn.execute(
            sa.select(t.waits.c.id).where(t.waits.c.run_id == run_id, t.waits.c.status == "open")
        ).scalars()
        event = {"id": "e1", "name": "go", "key": "s1", "payload": {"late": True}}
        body = {"event": {**event, "receivedAt": "x"}}
        assert resolve_waits(conn, [EndedWait(wait_id, run_id, "wait", "event", body)], now)
    harness.work()
    run = engine.get_run(run_id)
    assert run["status"] == "SUCCEEDED" and run["output"] == {"hold": {"late": True}}


def test_runs_moved_from_every_kind_of_position_finish_like_the_runs_left_alone(
    harness: Any,
) -> None:
    """Runs parked in a forEach, in parallel branches (one on a timer) and in a tryCatch,
    at several stages: half are moved to a v2 that only adds a last step, half stay on v1.
    Both halves finish with the same outputs (v2's plus its extra value)."""
    engine = harness.engine
    body = [wait("item", "item", correlationKey={"$expr": "run.subject & '-' & $string(vars.it)"})]
    items = {
        "id": "items",
        "type": "control.forEach",
        "items": {"$expr": "payload.items"},
        "itemVar": "it",
        "concurrency": 2,
        "body": body,
        "collect": {"$expr": "vars.item.n"},
        "saveAs": "vars.ns",
    }
    both = {
        "id": "both",
        "type": "control.parallel",
        "branches": [
            {"id": "left", "steps": [pause("nap", hours=2)]},
            {"id": "right", "steps": [wait("sig", "sig")]},
        ],
        "saveAs": "vars.both",
    }
    guarded = {
        "id": "guard",
        "type": "control.tryCatch",
        "try": [wait("last", "last")],
        "catch": [],
    }
    out = done(ns={"$expr": "vars.ns"}, both={"$expr": "vars.both"}, last={"$expr": "vars.last"})
    engine.publish(flow(items, both, guarded, out))
    subjects = [f"r{n}" for n in range(8)]
    runs = {s: engine.start("moves", {"items": [1, 2, 3]}, subject=s) for s in subjects}
    harness.work()

    def send(name: str, key: str, n: int = 0) -> None:
        engine.send_event(name, key, {"n": n}, ttl_ms=86_400_000)  # kept for a later wait

    # spread the runs over the stages: in the loop, in the parallel, in the tryCatch
    def finish_items(subject: str) -> None:
        for it in (1, 2, 3):
            send("item", f"{subject}-{it}", it * 10)

    for subject in subjects[3::4]:  # through the loop and the parallel (its nap too)
        finish_items(subject)
    harness.work()
    harness.advance(hours=2)
    for subject in subjects[3::4]:
        send("sig", subject, 7)
    for subject in subjects[1::4] + subjects[2::4]:  # into the parallel
        finish_items(subject)
    for subject in subjects[2::4]:
        send("sig", subject, 7)
    harness.work()
    stages = {
        s: sorted(w["stepId"] for w in engine.get_run(r)["waitingFor"]) for s, r in runs.items()
    }
    assert stages["r0"] == ["item", "item"] and stages["r1"] == ["nap", "sig"]
    assert stages["r2"] == ["nap"] and stages["r3"] == ["last"]

    extra = assign("extra", v=2)
    out2 = {**out, "output": {**out["output"], "v": {"$expr": "vars.v"}}}
    engine.publish(flow(items, both, guarded, extra, out2))
    moved_subjects = subjects[:4]
    report = migrate(harness, dry_run=False, runs=[runs[s] for s in moved_subjects])
    assert report["summary"]["moved"] == 4, report

    for subject in subjects:
        for it in (1, 2, 3):
            send("item", f"{subject}-{it}", it * 10)
        send("sig", subject, 7)
    harness.work()
    harness.advance(hours=2)
    for subject in subjects:
        send("last", subject, 1)
    harness.work()
    expected = engine.get_run(runs[subjects[-1]])["output"]
    assert expected["ns"] == [10, 20, 30] and expected["last"] == {"n": 1}
    assert expected["both"]  # what the parallel collected from its branches
    for subject, run_id in runs.items():
        run = engine.get_run(run_id)
        assert run["status"] == "SUCCEEDED", (subject, run["error"])
        if subject in moved_subjects:
            assert (run["version"], run["output"]) == (2, {**expected, "v": 2})
        else:
            assert (run["version"], run["output"]) == (1, expected)
