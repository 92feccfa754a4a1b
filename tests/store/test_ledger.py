"""The idempotency ledger (SPEC §4.5): a stale started entry is reclaimed after its lease; a
key held by a live run makes another run wait for that run's result instead of calling."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from storekit import claim

import sample_actions
from flowpin.store import tables as t
from flowpin.store.ledger import holds


def shared_key_workflow() -> dict:
    return {
        "key": "shared",
        "steps": [
            {
                "id": "create",
                "type": "action.call",
                "config": {
                    "actionId": "crm.create_ticket",
                    "version": 1,
                    "inputMapping": {"subject": "Help"},
                    "idempotencyKey": "ticket-shared",
                    "saveAs": "vars.t",
                },
            },
        ],
        "output": {"$expr": "vars.t.ticketId"},
    }


def plant_started_entry(harness, lease_seconds: float) -> None:
    now = harness.clock.now()
    with harness.engine.db.write() as conn:
        conn.execute(
            t.action_ledger.insert().values(
                tenant_id="default",
                key="ticket-shared",
                run_id="a-dead-run",
                token="create",
                step_id="create",
                action_id="crm.create_ticket",
                action_version=1,
                attempt=1,
                status="started",
                calls=1,
                input={"subject": "Help"},
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                created_at=now,
                updated_at=now,
            )
        )


def ledger_row(harness):
    with harness.engine.db.read() as conn:
        return conn.execute(sa.select(t.action_ledger)).one()


def test_stale_started_entry_is_reclaimed(harness) -> None:
    harness.engine.publish(shared_key_workflow())
    plant_started_entry(harness, lease_seconds=-1)  # its worker died; the lease ran out
    run = harness.engine.start("shared", {})
    harness.work()
    assert harness.engine.get_run(run)["status"] == "SUCCEEDED"
    row = ledger_row(harness)
    assert (row.status, row.run_id, row.calls) == ("succeeded", run, 2)
    assert len([c for c in sample_actions.CALLS if c["action"] == "create_ticket"]) == 1


def test_live_entry_makes_the_run_wait_until_its_lease_expires(harness) -> None:
    harness.engine.publish(shared_key_workflow())
    plant_started_entry(harness, lease_seconds=60)
    run = harness.engine.start("shared", {})
    harness.work()  # the key is held: the run gives itself back instead of calling
    assert harness.engine.get_run(run)["status"] == "RUNNING"
    assert sample_actions.CALLS == []
    harness.advance(seconds=61)  # the holder never finished: its lease expires
    assert harness.engine.get_run(run)["status"] == "SUCCEEDED"
    assert ledger_row(harness).run_id == run


def flaky_workflow(failures: int) -> dict:
    return {
        "key": "flaky",
        "steps": [
            {
                "id": "call",
                "type": "action.call",
                "config": {
                    "actionId": "test.flaky",
                    "version": 1,
                    "inputMapping": {"key": "k", "failures": failures},
                },
                "retry": {"maxAttempts": 3, "backoffMs": 1000},
            },
        ],
    }


def test_a_repeatable_action_records_its_result_in_one_entry(harness) -> None:
    """An idempotent action gets no "started" entry before its call (repeating it changes
    nothing), but its result is in the ledger like a side effect's."""
    harness.engine.publish(flaky_workflow(failures=0))
    run = harness.engine.start("flaky", {})
    harness.work()
    assert harness.engine.get_run(run)["status"] == "SUCCEEDED"
    row = ledger_row(harness)
    assert (row.status, row.run_id, row.step_id, row.calls) == ("succeeded", run, "call", 1)
    assert row.input == {"key": "k", "failures": 0}
    assert sample_actions.FLAKY == {"k": 1}


def test_a_failed_repeatable_call_is_retried_under_its_key(harness) -> None:
    harness.engine.publish(flaky_workflow(failures=2))
    run = harness.engine.start("flaky", {})
    harness.advance(seconds=60)
    assert harness.engine.get_run(run)["status"] == "SUCCEEDED"
    row = ledger_row(harness)
    assert (row.status, row.attempt, row.calls) == ("succeeded", 3, 3)
    assert sample_actions.FLAKY == {"k": 3}


def test_a_side_effect_is_claimed_before_its_handler_runs(harness) -> None:
    seen: list[str] = []

    def spy(data: dict, ctx) -> dict:
        with harness.engine.db.read() as conn:
            seen.append(conn.execute(sa.select(t.action_ledger.c.status)).scalar_one())
        return {"ticketId": "T-9"}

    harness.engine.deps.executor.stubs["crm.create_ticket@1"] = spy
    harness.engine.publish(shared_key_workflow())
    run = harness.engine.start("shared", {})
    harness.work()
    assert harness.engine.get_run(run)["output"] == "T-9"
    assert seen == ["started"]
    assert (ledger_row(harness).status, ledger_row(harness).calls) == ("succeeded", 1)


def test_a_claim_holds_for_its_claimant_until_the_run_is_canceled(harness) -> None:
    """``ledger.holds``, asked before a transactional action writes: only the claimant of the
    current claim of a run that has not ended may go on."""
    harness.engine.publish(shared_key_workflow())
    run = harness.engine.start("shared", {})
    [claimed] = claim(harness, "w1")
    with harness.engine.db.write() as conn:
        assert holds(conn, "w1", run, claimed.claim_count)
        assert not holds(conn, "w2", run, claimed.claim_count)
        assert not holds(conn, "w1", run, claimed.claim_count + 1)
    harness.engine.cancel(run)
    with harness.engine.db.write() as conn:
        assert not holds(conn, "w1", run, claimed.claim_count)
