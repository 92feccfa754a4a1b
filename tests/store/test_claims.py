"""The lease protocol of ``store.claims`` (SPEC §4.3), on both databases: a due run is claimed
by one worker at a time; a lease that expires lets another worker reclaim the run, and from then
on the first worker's writes are fenced off; renewing keeps a run, deferring and a graceful stop
hand it back."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from storekit import LEASE_SECONDS, claim, run_row

from builders import event_wait, state_set, workflow
from flowpin.runtime.decisions import RunInfo
from flowpin.runtime.interpreter import advance
from flowpin.store import claims
from flowpin.store.ledger import holds
from flowpin.worker.checkpoint import write_checkpoints
from flowpin.worker.checkpoint_batch import CheckpointRequest
from flowpin.worker.claimed import ClaimedRun

ONE_STEP = workflow("one", state_set("done", "DONE"))


def start(harness, definition: dict = ONE_STEP) -> str:
    harness.engine.publish(definition)
    return harness.engine.start(definition["key"], {})


def test_a_due_run_is_claimed_by_one_worker_and_leased_to_it(harness) -> None:
    run_id = start(harness)
    now = harness.clock.now()
    [claimed] = claim(harness, "w1")
    assert (claimed.id, claimed.status, claimed.claim_count) == (run_id, "RUNNING", 1)
    assert claim(harness, "w2") == []  # the live lease keeps every other worker off
    row = run_row(harness, run_id)
    assert row.lease_owner == "w1"
    assert claims.aware(row.lease_expires_at) == now + timedelta(seconds=LEASE_SECONDS)


def test_a_run_whose_lease_expired_is_reclaimed_and_the_first_workers_checkpoint_is_fenced(
    harness,
) -> None:
    """A worker that stalled past its lease finds its run taken over: its checkpoint writes
    nothing, so the run is driven once, by the second worker."""
    run_id = start(harness)
    [first] = claim(harness, "w1")
    harness.clock.advance(LEASE_SECONDS + 1)  # w1 stalls; its lease runs out
    [second] = claim(harness, "w2")
    assert (second.id, second.claim_count) == (run_id, 2)

    with harness.engine.db.write() as conn:
        assert not holds(conn, "w1", run_id, first.claim_count)
        assert holds(conn, "w2", run_id, second.claim_count)
    assert _checkpoint(harness, first, "w1").lost
    row = run_row(harness, run_id)
    assert (row.status, row.lease_owner, row.claim_count) == ("RUNNING", "w2", 2)
    assert not _checkpoint(harness, second, "w2").lost
    assert harness.engine.get_run(run_id)["status"] == "SUCCEEDED"


def test_a_stale_worker_can_neither_renew_nor_hand_back_a_run_it_lost(harness) -> None:
    run_id = start(harness)
    claim(harness, "w1")
    harness.clock.advance(LEASE_SECONDS + 1)
    claim(harness, "w2")
    taken = run_row(harness, run_id)
    now = harness.clock.now()
    with harness.engine.db.write() as conn:
        assert claims.renew_leases(conn, "w1", [run_id], now, 600) == {}  # not w1's to renew
        claims.defer(conn, "w1", run_id, 1, now, 0)
        claims.release_all(conn, "w1", now)
    row = run_row(harness, run_id)
    assert (row.lease_owner, row.lease_expires_at, row.wake_at) == (
        taken.lease_owner,
        taken.lease_expires_at,
        taken.wake_at,
    )


def test_renewing_a_lease_keeps_the_run_from_being_reclaimed(harness) -> None:
    run_id = start(harness)
    claim(harness, "w1")
    harness.clock.advance(LEASE_SECONDS - 10)
    with harness.engine.db.write() as conn:
        renewed = claims.renew_leases(conn, "w1", [run_id], harness.clock.now(), LEASE_SECONDS)
    assert renewed == {run_id: 1}  # the claim count of the claim renewed
    harness.clock.advance(20)  # past the first lease, within the renewed one
    assert claim(harness, "w2") == []
    harness.clock.advance(LEASE_SECONDS)
    assert [r.id for r in claim(harness, "w2")] == [run_id]


def test_a_deferred_run_is_claimable_again_after_its_delay_by_any_worker(harness) -> None:
    run_id = start(harness)
    [claimed] = claim(harness, "w1")
    with harness.engine.db.write() as conn:
        claims.defer(conn, "w1", run_id, claimed.claim_count, harness.clock.now(), 10)
    assert run_row(harness, run_id).lease_owner is None
    harness.clock.advance(9)
    assert claim(harness, "w2") == []
    harness.clock.advance(1)
    assert [r.id for r in claim(harness, "w2")] == [run_id]


def test_a_graceful_stop_hands_every_run_back_at_once(harness) -> None:
    runs = {start(harness) for _ in range(3)}
    assert {r.id for r in claim(harness, "w1")} == runs
    with harness.engine.db.write() as conn:
        claims.release_all(conn, "w1", harness.clock.now())
    assert {r.id for r in claim(harness, "w2")} == runs  # no lease to wait out


def test_claims_take_the_oldest_wake_up_first_and_no_more_than_asked(harness) -> None:
    runs = []
    for _ in range(3):
        runs.append(start(harness))
        harness.clock.advance(1)
    assert {r.id for r in claim(harness, "w1", limit=2)} == set(runs[:2])
    assert {r.id for r in claim(harness, "w2", limit=2)} == set(runs[2:])


def test_a_parked_run_is_not_claimed_until_its_wait_ends(harness) -> None:
    waiting = workflow("waits", event_wait("w", "go"), state_set("done", "DONE"))
    run_id = start(harness, waiting)
    harness.work()
    assert harness.engine.get_run(run_id)["status"] == "WAITING"
    assert claim(harness, "w1") == []
    harness.engine.send_event("go")
    assert [r.id for r in claim(harness, "w1")] == [run_id]


def test_concurrent_claimers_take_disjoint_runs(harness) -> None:
    """PostgreSQL: a claim in flight holds its rows (``FOR UPDATE SKIP LOCKED``); another
    claimer at the same moment takes the others instead of waiting or taking the same ones.
    (SQLite has one writer at a time: claims cannot overlap there.)"""
    if harness.engine.db.is_sqlite:
        pytest.skip("SQLite serializes writers: two claims never run at once")
    runs = {start(harness) for _ in range(4)}
    now = harness.clock.now()
    with harness.engine.db.write() as first:
        mine = {r.id for r in claims.claim_runs(first, "w1", now, LEASE_SECONDS, 2)}
        with harness.engine.db.write() as second:
            theirs = {r.id for r in claims.claim_runs(second, "w2", now, LEASE_SECONDS, 10)}
    assert len(mine) == 2 and mine | theirs == runs and not mine & theirs


def _checkpoint(harness, row, owner: str):
    """The checkpoint a worker holding ``row`` writes after driving the run one batch."""
    held = ClaimedRun.from_row(row)
    definition = harness.engine.deps.definitions.definition_by_version(held.version_id)
    info = RunInfo(held.id, held.workflow_key, held.version_number, held.subject, held.created_at)
    outcome = advance(definition, copy.deepcopy(held.state), info, [])
    with harness.engine.db.write() as conn:
        [result] = write_checkpoints(
            conn,
            [CheckpointRequest(held, outcome)],
            harness.engine.deps.services(owner),
            harness.clock.now(),
        )
    return result
