"""What a cron schedule does with the slots it missed while no worker ran (a deploy, a night's
outage): its trigger's ``catchUp`` - ``latest`` (default) one run for the most recent missed
slot, ``all`` one run per missed slot, ``none`` none - and ``catchUpWindowMs``, beyond which a
missed slot never fires. Each run knows its slot (``meta.scheduledFor``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from builders import expr, returns
from flowpin.store import tables as t

DAY_MS = 24 * 3600 * 1000


def daily(key: str, **trigger: Any) -> dict[str, Any]:
    """A workflow started every day at 9:00 UTC whose output is the slot its run is for."""
    return {
        "key": key,
        "triggers": [{"type": "schedule", "cron": "0 9 * * *", **trigger}],
        "steps": [returns("out", expr("meta.scheduledFor"))],
    }


def slots_run(harness, key: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The slots of the workflow's runs, in time order (each run's output is its slot), after
    checking every run succeeded."""
    runs = harness.engine.list_runs(workflow=key)
    assert all(run["status"] == "SUCCEEDED" for run in runs), runs
    return sorted(harness.engine.get_run(run["runId"])["output"] for run in runs)


def outage(harness, until: datetime) -> None:  # type: ignore[no-untyped-def]
    """No worker runs until ``until``; then one starts."""
    harness.clock.set(until)
    harness.work()


# The fake clock starts at 2026-01-01 00:00 UTC; down until Jan 3 12:00, a daily 9:00 schedule
# misses Jan 1, Jan 2 and Jan 3.
BACK = datetime(2026, 1, 3, 12, tzinfo=UTC)


def test_latest_starts_one_run_for_the_most_recent_missed_slot(harness) -> None:
    harness.engine.publish(daily("report"))  # no catchUp: the default, latest
    outage(harness, BACK)
    assert slots_run(harness, "report") == ["2026-01-03T09:00:00Z"]
    harness.advance(days=1)  # then on, on time
    assert slots_run(harness, "report") == ["2026-01-03T09:00:00Z", "2026-01-04T09:00:00Z"]


def test_all_starts_one_run_per_missed_slot_then_goes_on(harness) -> None:
    harness.engine.publish(daily("backfill", catchUp="all"))
    outage(harness, BACK)
    missed = ["2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z", "2026-01-03T09:00:00Z"]
    assert slots_run(harness, "backfill") == missed
    harness.advance(days=1)
    assert slots_run(harness, "backfill") == [*missed, "2026-01-04T09:00:00Z"]


def test_none_skips_missed_slots_and_fires_the_next_on_time(harness) -> None:
    harness.engine.publish(daily("ping", catchUp="none"))
    outage(harness, BACK)
    assert slots_run(harness, "ping") == []
    harness.advance(days=1)
    assert slots_run(harness, "ping") == ["2026-01-04T09:00:00Z"]


def test_none_still_fires_a_slot_a_worker_comes_to_a_little_late(harness) -> None:
    """A busy worker, or one that learns of a schedule on its poll, fires a slot seconds late:
    that slot is on time, not missed."""
    harness.engine.publish(daily("ping", catchUp="none"))
    outage(harness, datetime(2026, 1, 1, 9, 0, 30, tzinfo=UTC))
    assert slots_run(harness, "ping") == ["2026-01-01T09:00:00Z"]


def test_the_window_drops_missed_slots_older_than_it(harness) -> None:
    engine = harness.engine
    # back at Jan 3 12:00 with a day and a half: Jan 2 and Jan 3 are inside, Jan 1 is not
    engine.publish(daily("recent", catchUp="all", catchUpWindowMs=DAY_MS * 3 // 2))
    # the latest missed slot (Jan 3 9:00) is 3 hours old: beyond a two-hour window
    engine.publish(daily("fresh", catchUpWindowMs=2 * 3600 * 1000))
    outage(harness, BACK)
    assert slots_run(harness, "recent") == ["2026-01-02T09:00:00Z", "2026-01-03T09:00:00Z"]
    assert slots_run(harness, "fresh") == []
    harness.advance(days=1)  # a slot on time is inside any window
    assert slots_run(harness, "fresh") == ["2026-01-04T09:00:00Z"]


def test_all_catches_up_a_long_outage_in_bounded_passes_each_slot_once(harness) -> None:
    """Every minute, down for 250 minutes: each pass starts at most 100 of them (one
    transaction each), the worker goes on until all 250 ran, oldest first, none twice."""
    harness.engine.publish(
        {
            "key": "minutely",
            "triggers": [{"type": "schedule", "cron": "* * * * *", "catchUp": "all"}],
            "steps": [returns("out", expr("meta.scheduledFor"))],
        }
    )
    outage(harness, datetime(2026, 1, 1, 4, 10, 30, tzinfo=UTC))
    with harness.engine.db.read() as conn:
        keys = conn.execute(
            sa.select(t.runs.c.idempotency_key)
            .where(t.runs.c.workflow_key == "minutely")
            .order_by(t.runs.c.created_at, t.runs.c.id)
        ).scalars()
        slots = [datetime.fromisoformat(key.split(":", 2)[2]) for key in keys]
    start = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    assert sorted(slots) == [start + timedelta(minutes=i) for i in range(250)]
    assert harness.engine.next_due() == datetime(2026, 1, 1, 4, 11, tzinfo=UTC)


def test_a_paused_workflow_fires_no_missed_slot_whatever_catch_up_says(harness) -> None:
    engine = harness.engine
    engine.publish(daily("held", catchUp="all"))
    engine.update_workflow("held", paused=True)
    outage(harness, BACK)
    engine.update_workflow("held", paused=False)
    harness.advance(days=1)
    assert slots_run(harness, "held") == ["2026-01-04T09:00:00Z"]


def test_a_scheduled_runs_shadow_replays_it_with_its_slot(harness) -> None:
    """A version shadowed against a scheduled run sees the same ``meta.scheduledFor`` the run
    saw (not a run with no slot, which would diverge at the first step reading it)."""
    engine = harness.engine
    engine.publish(daily("backfill", catchUp="all"))
    outage(harness, BACK)
    report = engine.shadow("backfill", version=1, last=3)
    assert [item["result"] for item in report["runs"]] == ["same"] * 3, report


def test_a_manual_run_with_a_slot_shaped_key_is_replayed_without_a_slot(harness) -> None:
    """Only a schedule's run has a slot: a run an application started with an idempotency key
    of the same shape is replayed as it ran, with no ``meta.scheduledFor``."""
    engine = harness.engine
    engine.publish(daily("report"))
    run_id = engine.start("report", {}, idempotency_key="schedule:0:2026-01-01T09:00:00Z")
    harness.work()
    assert engine.get_run(run_id)["output"] is None
    report = engine.shadow("report", version=1, last=1)
    assert [item["result"] for item in report["runs"]] == ["same"], report
