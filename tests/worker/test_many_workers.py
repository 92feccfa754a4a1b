"""Four worker processes, one PostgreSQL, 2,000 W1-like runs, a schedule and a few canceled
runs: no run is ever driven by two workers at once, every step succeeds exactly once, every
side effect is called once, every timer fires once and the schedule once per slot."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fleet import (
    Fleet,
    Frozen,
    audit,
    cancel,
    prepare,
    start_many,
    start_runs,
    tick_definition,
    unfinished,
    wait_finished,
)

from flowpin.engine import Engine
from waiting import wait_until

RUNS = 2000
LEASE = 10.0


@pytest.mark.timeout(300)
def test_four_workers_share_two_thousand_runs_without_overlap(
    pg_url: str, tmp_path: Path, closing: Callable[[Engine], Engine]
) -> None:
    engine = closing(prepare(pg_url, LEASE))
    fleet = Fleet(pg_url, tmp_path / "workers.log", LEASE)
    canceled: dict[str, Frozen] = {}
    try:
        fleet.start(4)
        engine.publish(tick_definition())
        schedule_from = datetime.now(UTC)
        parked = start_runs(engine, "parked", 5)
        began = time.monotonic()
        runs = start_many(engine, RUNS)
        started_in = time.monotonic() - began
        # Canceled while queued or in flight (whichever the race gives), and while parked.
        for run_id in runs[-5:] + runs[1000:1003]:
            frozen = cancel(engine, run_id)
            if frozen is not None:
                canceled[run_id] = frozen
        expected = [r for r in runs if r not in canceled]
        took = wait_finished(engine, expected, timeout=200)
        wait_until(
            lambda: not unfinished(engine, parked) or _parked_count(engine, parked) >= len(parked),
            "the runs to park",
            seconds=200,
            every=0.1,
        )
        for run_id in parked:
            frozen = cancel(engine, run_id)
            assert frozen is not None
            canceled[run_id] = frozen
        time.sleep(1.5)  # let a canceled run's stale claimant try (it must be fenced)
        schedule_to = datetime.now(UTC)
        assert not fleet.dead(), fleet.tail()
    finally:
        fleet.stop()
    stopped_at = datetime.now(UTC)
    result = audit(engine, expected, canceled, killed=set())
    print(f"\nmany workers: {RUNS} runs started in {started_in:.1f}s, done {took:.1f}s later")
    print(result.summary())
    assert result.lost == [], (len(result.lost), fleet.tail())
    assert len(result.deliveries_per_pid) >= 2, result.deliveries_per_pid  # the work was shared
    assert result.revived == []
    assert result.step_anomalies == []
    assert result.timer_anomalies == []
    assert result.double_drives == []
    assert result.duplicated == []
    assert result.redeliveries == 0  # no worker died: every key was called exactly once
    assert result.ledger_calls_over_one == 0
    assert all(result.keys_per_run[r] == 3 for r in expected)
    # The schedule: one run per slot, no slot twice, no slot skipped while workers were up.
    assert result.duplicate_slots == []
    slots = [_slot_time(key) for key in result.schedule_slots]
    assert slots == sorted(set(slots))
    assert set(_seconds_between(schedule_from, schedule_to)[:-1]) <= set(slots)
    # No slot from the future. A second of grace: CI's clock was seen stepped by NTP between
    # a worker's firing and this process reading the time (a slot 'after' the stop).
    # And the slot of the second the window opened in: the schedule's first slot was computed
    # when it was published, just before (seen: slot :38 fired at :38.043, window from :38.008).
    opened = schedule_from - timedelta(seconds=1)
    allowed = set(_seconds_between(opened, stopped_at + timedelta(seconds=1)))
    outside = sorted(slot for slot in slots if slot not in allowed)
    assert not outside, _slots_outside(engine, outside, schedule_from, schedule_to, stopped_at)


def _slots_outside(
    engine: Engine,
    outside: list[datetime],
    schedule_from: datetime,
    schedule_to: datetime,
    stopped_at: datetime,
) -> str:
    """What a slot outside the test's window says about itself: when its run was created and
    by which worker, against the test's own times (a slot 'from the future' was seen once in
    CI, cause unknown; this is what to look at next time)."""
    import sqlalchemy as sa

    from flowpin.store import tables as t

    with engine.db.read() as conn:
        rows = conn.execute(
            sa.select(t.runs.c.idempotency_key, t.runs.c.created_at, t.runs.c.lease_owner).where(
                t.runs.c.workflow_key == "tick"
            )
        ).all()
    made = {row.idempotency_key: (row.created_at, row.lease_owner) for row in rows}
    lines = [
        f"from {schedule_from.isoformat()} to {schedule_to.isoformat()}, "
        f"workers stopped at {stopped_at.isoformat()}, now {datetime.now(UTC).isoformat()}"
    ]
    for key, (created, owner) in sorted(made.items(), key=lambda item: str(item[0])):
        if key and _slot_time(key) in outside:
            lines.append(f"slot {key}: run created {created.isoformat()} by {owner}")
    return "\n".join(lines)


def _parked_count(engine, run_ids: list[str]) -> int:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from flowpin.store import tables as t

    with engine.db.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(t.waits)
                .where(t.waits.c.run_id.in_(run_ids), t.waits.c.status == "open")
            ).scalar_one()
        )


def _slot_time(key: str) -> datetime:
    """``schedule:<trigger index>:<ISO slot>`` → the slot."""
    return datetime.fromisoformat(key.split(":", 2)[2])


def _seconds_between(start: datetime, end: datetime) -> list[datetime]:
    first = start.replace(microsecond=0) + timedelta(seconds=1)
    return [first + timedelta(seconds=i) for i in range(int((end - first).total_seconds()) + 1)]
