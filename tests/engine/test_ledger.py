"""The idempotency ledger (SPEC §4.5): a stale started entry is reclaimed after its lease; a
key held by a live run makes another run wait for that run's result instead of calling."""

from __future__ import annotations

from datetime import timedelta

import sample_actions
import sqlalchemy as sa

from flowpin.store import tables as t


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
