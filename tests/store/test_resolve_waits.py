"""``store.waits.resolve_waits``, the one rule by which a wait ends (SPEC §4.4), on both
databases: the wait ends once, its run's inbox receives one row, and the run wakes. An event and
a timeout racing for one wait: exactly one wins."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from storekit import inbox, run_row, waits

from builders import event_wait, state_set, workflow
from flowpin.store import tables as t
from flowpin.store.events import submit_event
from flowpin.store.waits import EndedWait, end_waits, fire_due_waits, resolve_waits
from waiting import wait_until

RACER = workflow(
    "racer",
    event_wait("w", "go", timeoutMs=1000, onTimeout="continue", saveAs="vars.e"),
    output={"$expr": "meta.timedOut"},
)


def parked(harness: Any, definition: dict[str, Any] = RACER) -> tuple[str, Any]:
    """A run of ``definition`` parked on its first wait, and that wait's row."""
    harness.engine.publish(definition)
    run_id = harness.engine.start(definition["key"], {}, subject="r")
    harness.work()
    [wait] = waits(harness)
    assert run_row(harness, run_id).wake_at is None  # parked: nothing to do until the wait ends
    return run_id, wait


def ended(wait: Any, kind: str, body: Any = None) -> EndedWait:
    return EndedWait(wait.id, wait.run_id, wait.token, kind, body or {})


def test_resolving_a_wait_adds_one_inbox_row_and_wakes_the_run(harness) -> None:
    run_id, wait = parked(harness)
    now = harness.clock.now()
    with harness.engine.db.write() as conn:
        won = resolve_waits(conn, [ended(wait, "event", {"event": {"x": 1}})], now)
    assert [w.wait_id for w in won] == [wait.id]
    [row] = inbox(harness)
    assert (row.run_id, row.token, row.kind, row.body) == (
        run_id,
        wait.token,
        "event",
        {"event": {"x": 1}},
    )
    assert waits(harness)[0].status == "resolved"
    assert run_row(harness, run_id).wake_at is not None


def test_a_wait_ends_once_whoever_comes_second_changes_nothing(harness) -> None:
    _, wait = parked(harness)
    now = harness.clock.now()
    with harness.engine.db.write() as conn:
        assert resolve_waits(conn, [ended(wait, "event")], now)
    with harness.engine.db.write() as conn:
        assert resolve_waits(conn, [ended(wait, "timeout")], now) == []
    assert [row.kind for row in inbox(harness)] == ["event"]


@pytest.mark.parametrize("winner", ["event", "timeout"])
def test_an_event_and_a_timeout_racing_for_one_wait_exactly_one_wins_one_inbox_row(
    harness, winner: str
) -> None:
    """The event (``store.events.submit_event``) and the timeout (the worker's due-wait pass)
    are two transactions at once: the loser's waits on the winner's lock (PostgreSQL) or on
    the one writer's turn (SQLite), then finds the wait no longer open."""
    run_id, _ = parked(harness)
    harness.clock.advance(2)  # the timeout is due and the event arrives: both try
    now = harness.clock.now()
    engine = harness.engine

    def send(conn: Any) -> int:
        outcome = submit_event(
            conn, "default", "go", "r", {"x": 1}, now, engine.deps.definitions.definition_in, None
        )
        return len(outcome.resumed)

    first, second = (send, fire_due_waits) if winner == "event" else (fire_due_waits, send)
    late: list[int] = []

    def loser() -> None:
        with engine.db.write() as conn:
            late.append(second(conn) if second is send else second(conn, now))

    with engine.db.write() as conn:
        early = first(conn) if first is send else first(conn, now)
        racer = threading.Thread(target=loser)
        racer.start()
        if not engine.db.is_sqlite:
            # Hold the winner's transaction open until the loser has tried: it waits on the
            # winner's row lock (an event), or passes the locked wait by (the due-wait pass
            # skips locked rows, and once the winner commits the wait is no longer open).
            wait_until(lambda: late or _waiting_on_a_lock(engine), "the loser to try")
    racer.join(30)

    assert (early, late) == (1, [0])
    [row] = inbox(harness)
    assert (row.run_id, row.kind) == (run_id, winner)
    assert [w.status for w in waits(harness)] == ["resolved"]
    harness.work()
    assert engine.get_run(run_id)["output"] is (winner == "timeout")


def _waiting_on_a_lock(engine: Any) -> bool:
    with engine.db.engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE '%waits%' AND datname = current_database()"
                )
            ).scalar()
        )


def test_a_canceled_wait_ends_without_input(harness) -> None:
    run_id, wait = parked(harness)
    with harness.engine.db.write() as conn:
        assert end_waits(conn, [wait.id], harness.clock.now(), status="canceled") == {wait.id}
    assert inbox(harness) == []
    assert waits(harness)[0].status == "canceled"
    with harness.engine.db.write() as conn:  # an event after the cancel finds nothing open
        assert resolve_waits(conn, [ended(wait, "event")], harness.clock.now()) == []
    assert run_row(harness, run_id).wake_at is None


def test_resolving_many_waits_of_one_run_wakes_it_once(harness) -> None:
    both = workflow(
        "both",
        {
            "id": "par",
            "type": "control.parallel",
            "branches": [
                {"id": "left", "steps": [event_wait("a", "a")]},
                {"id": "right", "steps": [event_wait("b", "b")]},
            ],
        },
        state_set("done", "DONE"),
    )
    harness.engine.publish(both)
    run_id = harness.engine.start("both", {})
    harness.work()
    first, second = waits(harness)
    with harness.engine.db.write() as conn:
        won = resolve_waits(
            conn, [ended(first, "event"), ended(second, "event")], harness.clock.now()
        )
    assert len(won) == 2 and len(inbox(harness)) == 2
    with harness.engine.db.read() as conn:
        assert conn.execute(sa.select(t.runs.c.wake_at).where(t.runs.c.id == run_id)).scalar()
    harness.work()
    assert harness.engine.get_run(run_id)["status"] == "SUCCEEDED"
