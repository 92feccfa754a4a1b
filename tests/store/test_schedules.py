"""``store.schedules.catch_up``: which slots of a due schedule fire, and where it goes next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flowpin.store.schedules import CATCH_UP_BATCH, ON_TIME, catch_up

NINE = datetime(2026, 1, 1, 9, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize("mode", ["latest", "all", "none"])
def test_a_slot_fired_on_time_fires_whatever_the_mode(mode: str) -> None:
    for late in (timedelta(0), timedelta(seconds=2), ON_TIME):
        firing = catch_up("0 9 * * *", "UTC", NINE, NINE + late, mode, timedelta(seconds=60))
        assert firing.slots == [NINE] and firing.next_fire_at == NINE + DAY


def test_a_slot_more_than_on_time_late_is_missed_for_none() -> None:
    firing = catch_up("0 9 * * *", "UTC", NINE, NINE + ON_TIME + timedelta(seconds=1), "none")
    assert firing.slots == [] and firing.next_fire_at == NINE + DAY


def test_all_cuts_a_long_backlog_into_batches_that_stay_due() -> None:
    start = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    now = start + timedelta(minutes=150)
    firing = catch_up("* * * * *", "UTC", start, now, "all")
    assert firing.slots == [start + timedelta(minutes=i) for i in range(CATCH_UP_BATCH)]
    assert firing.next_fire_at == start + timedelta(minutes=CATCH_UP_BATCH)
    rest = catch_up("* * * * *", "UTC", firing.next_fire_at, now, "all")
    assert len(rest.slots) == 51 and rest.next_fire_at == now + timedelta(minutes=1)


def test_the_window_counts_back_from_now_and_keeps_a_slot_on_its_edge() -> None:
    now = NINE + 2 * DAY
    firing = catch_up("0 9 * * *", "UTC", NINE, now, "all", DAY)
    assert firing.slots == [NINE + DAY, NINE + 2 * DAY]
    assert (
        catch_up(
            "0 9 * * *", "UTC", NINE, now + timedelta(hours=1), "latest", timedelta(minutes=59)
        ).slots
        == []
    )


def test_latest_is_the_last_slot_in_the_schedules_time_zone() -> None:
    """9:00 Europe/Berlin is 8:00 UTC in winter, 7:00 in summer (across the March change)."""
    due = datetime(2026, 3, 27, 8, tzinfo=UTC)  # Friday 9:00 CET
    now = datetime(2026, 3, 30, 12, tzinfo=UTC)
    firing = catch_up("0 9 * * *", "Europe/Berlin", due, now, "latest")
    assert firing.slots == [datetime(2026, 3, 30, 7, tzinfo=UTC)]
    assert firing.next_fire_at == datetime(2026, 3, 31, 7, tzinfo=UTC)
