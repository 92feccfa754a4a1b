"""Retries, error handling, child runs and operator actions through the public API."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import sample_actions
from builders import (
    action_call,
    assign,
    call_workflow,
    event_wait,
    expr,
    state_set,
    time_wait,
    workflow,
)
from flowpin.store import tables as t


def flaky(key: str, failures: int, mode: str = "retryable", retry: dict | None = None) -> dict:
    step = action_call(
        "call", "test.flaky", inputMapping={"key": key, "failures": failures, "mode": mode}
    )
    if retry is not None:
        step["retry"] = retry
    return workflow(f"flaky-{key}", step)


def test_retry_with_backoff_succeeds_after_failures(harness) -> None:
    engine = harness.engine
    definition = flaky("a", 2, retry={"maxAttempts": 3, "backoffMs": 1000, "jitter": "none"})
    engine.publish(definition)
    run = engine.start("flaky-a", {})
    harness.work()
    assert engine.get_run(run)["status"] == "WAITING"
    assert engine.get_run(run)["waitingFor"][0]["reason"] == "retry"
    harness.advance(seconds=1)
    harness.advance(seconds=2)
    result = engine.get_run(run)
    assert result["status"] == "SUCCEEDED", result["error"]
    attempts = [
        (h["attempt"], h["status"])
        for h in engine.history(run)
        if h["stepId"] == "call" and h["status"] != "waiting"
    ]
    assert attempts == [(1, "retrying"), (2, "retrying"), (3, "succeeded")]
    assert sample_actions.FLAKY["a"] == 3


def test_non_retryable_error_fails_without_retry(harness) -> None:
    engine = harness.engine
    engine.publish(flaky("b", 1, mode="fatal", retry={"maxAttempts": 5, "backoffMs": 10}))
    run = engine.start("flaky-b", {})
    harness.work()
    result = engine.get_run(run)
    assert result["status"] == "FAILED"
    assert result["error"]["category"] == "ActionError"
    assert result["error"]["message"] == "permanent failure"
    assert sample_actions.FLAKY["b"] == 1


def test_retry_after_overrides_backoff(harness) -> None:
    engine = harness.engine
    engine.publish(flaky("c", 1, mode="retry_after", retry={"maxAttempts": 2, "backoffMs": 10}))
    run = engine.start("flaky-c", {})
    harness.work()
    due = engine.get_run(run)["waitingFor"][0]["dueAt"]
    assert due.startswith((harness.clock.now() + timedelta(seconds=7)).isoformat()[:19])
    harness.advance(seconds=7)
    assert engine.get_run(run)["status"] == "SUCCEEDED"


def test_try_catch_captures_the_error(harness) -> None:
    definition = {
        "key": "guarded",
        "steps": [
            {
                "id": "guard",
                "type": "control.tryCatch",
                "try": [
                    {
                        "id": "boom",
                        "type": "control.fail",
                        "category": "ActionError",
                        "message": {"$expr": "'bad ' & payload.x"},
                    },
                ],
                "catch": [state_set("recover", "RECOVERED")],
                "captureErrorAs": "vars.err",
            }
        ],
    }
    run = harness.run(definition, {"x": "input"})
    assert run["status"] == "SUCCEEDED"
    assert run["state"]["meta"]["state"] == "RECOVERED"
    assert run["state"]["vars"]["err"]["message"] == "bad input"
    assert run["state"]["vars"]["err"]["stepId"] == "boom"


def test_for_each_collects_in_order(harness) -> None:
    definition = {
        "key": "loop",
        "steps": [
            {
                "id": "each",
                "type": "control.forEach",
                "items": {"$expr": "payload.words"},
                "itemVar": "word",
                "concurrency": 3,
                "body": [
                    action_call(
                        "shout",
                        "test.echo",
                        save_as="vars.loud",
                        inputMapping={"text": expr("vars.word")},
                    ),
                ],
                "collect": {"$expr": "vars.loud.text & vars.wordIndex"},
                "saveAs": "vars.all",
            }
        ],
        "output": {"$expr": "vars.all"},
    }
    run = harness.run(definition, {"words": ["a", "b", "c", "d"]})
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["output"] == ["A0", "B1", "C2", "D3"]
    assert "loud" not in run["state"]["vars"]


def test_call_workflow_waits_for_the_child(harness) -> None:
    engine = harness.engine
    engine.publish(
        workflow("child", assign("c", **{"vars.r": expr("payload.n * 2")}), output=expr("vars.r"))
    )
    engine.publish(
        workflow("failing-child", {"id": "f", "type": "control.fail", "message": "child broke"})
    )
    parent = workflow(
        "parent",
        call_workflow(
            "call",
            "child",
            version="latest",
            inputMapping={"n": expr("payload.n")},
            saveAs="vars.child",
        ),
        {
            "id": "bad",
            "type": "control.tryCatch",
            "try": [call_workflow("call2", "failing-child", inputMapping={})],
            "catch": [],
            "captureErrorAs": "vars.childError",
        },
        output=expr("vars.child"),
    )
    run = harness.run(parent, {"n": 21})
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["output"] == 42
    assert run["state"]["vars"]["childError"]["category"] == "ActionError"
    children = [r for r in engine.list_runs() if r["workflow"] in ("child", "failing-child")]
    assert {r["status"] for r in children} == {"SUCCEEDED", "FAILED"}


def test_emit_event_resumes_another_run(harness) -> None:
    engine = harness.engine
    engine.publish(
        workflow(
            "listener",
            event_wait("w", "ping", timeoutMs=60000, saveAs="vars.p"),
            output=expr("vars.p"),
        )
    )
    listener = engine.start("listener", {}, subject="room")
    harness.work()
    harness.run(
        {
            "key": "speaker",
            "steps": [
                {
                    "id": "e",
                    "type": "event.emit",
                    "config": {
                        "eventName": "ping",
                        "correlationKey": "room",
                        "payload": {"from": "speaker"},
                    },
                }
            ],
        }
    )
    harness.work()
    assert engine.get_run(listener)["output"] == {"from": "speaker"}


# ------------------------------------------------------------------ operator actions


def waiting_run(harness) -> str:
    engine = harness.engine
    engine.publish(
        workflow(
            "cancellable",
            time_wait("nap", 60_000),
            event_wait("w", "go", timeoutMs=600_000),
            state_set("done", "DONE"),
        )
    )
    run = engine.start("cancellable", {}, subject="s")
    harness.work()
    return run


def test_canceled_run_is_not_revived_by_timer_or_event(harness) -> None:
    engine = harness.engine
    run = waiting_run(harness)
    assert engine.cancel(run)["status"] == "CANCELED"
    harness.advance(minutes=20)
    assert engine.send_event("go", "s").resumed == []
    harness.work()
    result = engine.get_run(run)
    assert result["status"] == "CANCELED"
    assert result["waitingFor"] == []


def test_canceled_run_is_not_revived_by_a_stale_worker(harness) -> None:
    """A worker that claimed the run before the cancel writes nothing afterwards."""
    engine = harness.engine
    run = waiting_run(harness)
    harness.advance(minutes=2)  # timer fired, now waiting for the event
    engine.send_event("go", "s")
    # Simulate a worker that claimed the run, then stalled while an operator canceled it.
    from flowpin.store import claims

    with engine.db.write() as conn:
        claimed = claims.claim_runs(conn, "stale-worker", harness.clock.now(), 30, 10)
    assert [r.id for r in claimed] == [run]
    engine.cancel(run)
    # the stale worker's checkpoint is fenced: status stays CANCELED
    from flowpin.runtime.decisions import RunInfo
    from flowpin.runtime.interpreter import advance
    from flowpin.worker.checkpoint import write_checkpoints
    from flowpin.worker.checkpoint_batch import CheckpointRequest
    from flowpin.worker.claimed import ClaimedRun

    row = claimed[0]
    definition = engine.deps.definitions.definition_by_version(row.version_id)
    info = RunInfo(run, row.workflow_key, row.version_number, row.subject, row.created_at)
    outcome = advance(definition, row.state, info, [])
    held = ClaimedRun.from_row(row)
    with engine.db.write() as conn:
        [result] = write_checkpoints(
            conn,
            [CheckpointRequest(held, outcome)],
            engine.deps.services("stale-worker"),
            harness.clock.now(),
        )
    assert result.lost
    harness.work()
    assert engine.get_run(run)["status"] == "CANCELED"


def test_resume_fires_a_timer_now(harness) -> None:
    engine = harness.engine
    run = waiting_run(harness)
    engine.resume(run)
    harness.work()
    result = engine.get_run(run)
    assert result["waitingFor"][0]["kind"] == "event"


def test_retry_from_the_failed_step(harness) -> None:
    engine = harness.engine
    engine.publish(flaky("d", 1, mode="fatal"))
    run = engine.start("flaky-d", {})
    harness.work()
    assert engine.get_run(run)["status"] == "FAILED"
    engine.retry(run)
    harness.work()
    result = engine.get_run(run)
    assert result["status"] == "SUCCEEDED", result["error"]
    assert sample_actions.FLAKY["d"] == 2


def test_rerun_starts_a_new_run_with_the_same_input(harness) -> None:
    engine = harness.engine
    from test_publish_and_run import hello

    engine.publish(hello())
    first = engine.start("hello", {"name": "Zed", "plan": "free"})
    harness.work()
    second = engine.rerun(first)
    harness.work()
    assert engine.replay(second) not in (first, second)  # the former name still works
    assert second != first
    assert engine.get_run(second)["output"] == engine.get_run(first)["output"] == "Hello, Zed"


def test_side_effect_called_once_per_idempotency_key(harness) -> None:
    engine = harness.engine
    definition = workflow(
        "ticketing",
        action_call(
            "create",
            "crm.create_ticket",
            save_as="vars.ticket",
            inputMapping={"subject": expr("payload.subject")},
            idempotencyKey=expr("'ticket-' & payload.messageId"),
        ),
        output=expr("vars.ticket.ticketId"),
    )
    engine.publish(definition)
    a = engine.start("ticketing", {"subject": "Help", "messageId": "m1"})
    b = engine.start("ticketing", {"subject": "Help", "messageId": "m1"})
    harness.work()
    assert engine.get_run(a)["output"] == engine.get_run(b)["output"] == "T-1"
    assert len([c for c in sample_actions.CALLS if c["action"] == "create_ticket"]) == 1
    with engine.db.read() as conn:
        row = conn.execute(sa.select(t.action_ledger)).one()
    assert row.key == "ticket-m1" and row.status == "succeeded" and row.calls == 1


@pytest.mark.parametrize("winner", ["event", "timeout"])
def test_event_and_timeout_race_exactly_one_wins(harness, winner: str) -> None:
    engine = harness.engine
    engine.publish(
        workflow(
            "racer",
            event_wait("w", "go", timeoutMs=1000, onTimeout="continue", saveAs="vars.e"),
            output=expr("meta.timedOut"),
        )
    )
    run = engine.start("racer", {}, subject="r")
    harness.work()
    harness.clock.advance(2)  # the timeout is due but not fired yet
    if winner == "event":
        assert engine.send_event("go", "r", {"x": 1}).resumed == [run]
        harness.work()
    else:
        harness.work()
        assert engine.send_event("go", "r", {"x": 1}).resumed == []
    result = engine.get_run(run)
    assert result["status"] == "SUCCEEDED"
    assert result["output"] is (winner == "timeout")
    with engine.db.read() as conn:
        statuses = conn.execute(sa.select(t.waits.c.status)).scalars().all()
    assert statuses == ["resolved"]


def test_stored_history_masks_sensitive_keys_but_the_run_keeps_them(harness) -> None:
    engine = harness.engine
    definition = workflow(
        "login",
        assign("creds", **{"vars.login": {"user": "ada", "password": "hunter2"}}),
        action_call(
            "call",
            "test.echo",
            save_as="vars.echoed",
            inputMapping={"text": expr("vars.login.password")},
        ),
        output=expr("vars.echoed.text"),
    )
    run = harness.run(definition)
    assert run["output"] == "HUNTER2"  # the state the run worked from was never masked
    with engine.db.read() as conn:
        rows = conn.execute(sa.select(t.step_history.c.output)).scalars().all()
    stored = repr(rows)
    assert "hunter2" not in stored
    assert "[redacted]" in stored
