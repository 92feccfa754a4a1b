"""Submitting events in ``store.events`` (SPEC §4.4), on both databases: an event resumes every
run waiting for its name and key, each wait once; a repeated event id changes nothing; in one
batch, the first event a wait accepts is the one it gets."""

from __future__ import annotations

from typing import Any

from storekit import inbox

from builders import event_wait, workflow
from flowpin.store.events import EventIn, submit_events

WAITER = workflow("waiter", event_wait("w", "go", saveAs="vars.e"))
"""Waits for ``go`` with the run's subject as the event's key (the default)."""


def submit(harness: Any, *events: EventIn) -> list[Any]:
    engine = harness.engine
    with engine.db.write() as conn:
        return submit_events(
            conn,
            "default",
            list(events),
            harness.clock.now(),
            engine.deps.definitions.definition_in,
            engine.registry,
        )


def parked(harness: Any, *keys: str) -> list[str]:
    harness.engine.publish(WAITER)
    runs = [harness.engine.start("waiter", {}, subject=key) for key in keys]
    harness.work()
    return runs


def test_an_event_resumes_every_run_waiting_for_its_name_and_key(harness) -> None:
    a, b, other = parked(harness, "k", "k", "x")
    [outcome] = submit(harness, EventIn("go", "k", {"n": 1}))
    assert sorted(outcome.resumed) == sorted([a, b]) and outcome.started == []
    assert sorted(row.run_id for row in inbox(harness)) == sorted([a, b])
    harness.work()
    assert harness.engine.get_run(other)["status"] == "WAITING"
    assert harness.engine.get_run(a)["status"] == "SUCCEEDED"


def test_a_repeated_event_id_is_a_duplicate_and_resumes_nothing_again(harness) -> None:
    [run] = parked(harness, "k")
    [first] = submit(harness, EventIn("go", "k", event_id="e-1"))
    late = harness.engine.start("waiter", {}, subject="k")  # waits after the first delivery
    harness.work()
    [again] = submit(harness, EventIn("go", "k", event_id="e-1"))
    assert (first.resumed, first.duplicate) == ([run], False)
    assert (again.resumed, again.duplicate) == ([run], True)  # the first answer, repeated
    assert inbox(harness) == []  # nothing delivered to the run that waits now
    assert harness.engine.get_run(late)["status"] == "WAITING"


def test_in_one_batch_a_wait_takes_the_first_event_it_accepts(harness) -> None:
    [run] = parked(harness, "k")
    first, second = submit(harness, EventIn("go", "k", {"n": 1}), EventIn("go", "k", {"n": 2}))
    assert (first.resumed, second.resumed) == ([run], [])
    [row] = inbox(harness)
    assert row.body["event"]["payload"] == {"n": 1}


def test_an_event_is_stored_through_the_driver_as_core_stores_it(harness) -> None:
    """On SQLite the event's path runs on the driver's cursor (``statements.DriverStatement``):
    each row it writes — the event, the inbox entry, the ended wait, the woken run — holds
    what a Core write of the same values holds (JSON text, a JSON null, UTC time text)."""
    import sqlalchemy as sa

    from flowpin.store import tables as t

    [run] = parked(harness, "a")
    submit(harness, EventIn("go", "a", {"deep": [1, None, "é"]}, event_id="e-a"))
    submit(harness, EventIn("go", "nobody", None))  # a JSON null payload, nothing resumed
    engine = harness.engine

    def core_id(row_id: str) -> str:  # as long as the row's own
        return "core" + row_id[4:]

    def raw(conn: Any, table: sa.Table) -> dict[Any, dict[str, Any]]:
        rows = conn.exec_driver_sql(f"SELECT * FROM {table.name}").mappings()
        return {row["id"]: dict(row) for row in rows}

    with engine.db.write() as conn:
        for table in (t.events, t.run_inbox):  # each row again, written by Core
            for row in list(conn.execute(sa.select(table)).mappings()):
                copy = dict(row)
                copy["id"] = core_id(row["id"]) if table is t.events else row["id"] + 1000
                if table is t.events:
                    copy["event_id"] = row["event_id"] and f"core-{row['event_id']}"
                conn.execute(table.insert(), [copy])
        stored = {table.name: raw(conn, table) for table in (t.events, t.run_inbox)}
        wait = conn.execute(sa.select(t.waits).where(t.waits.c.run_id == run)).one()
        woken = conn.execute(sa.select(t.runs.c.wake_at).where(t.runs.c.id == run)).scalar()
        by_driver = (raw(conn, t.waits)[wait.id]["resolved_at"], raw(conn, t.runs)[run]["wake_at"])
        conn.execute(t.waits.update().values(resolved_at=wait.resolved_at))
        conn.execute(t.runs.update().where(t.runs.c.id == run).values(wake_at=woken))
        by_core = (raw(conn, t.waits)[wait.id]["resolved_at"], raw(conn, t.runs)[run]["wake_at"])
    assert by_driver == by_core and wait.status == "resolved"
    events, inboxes = stored["events"], stored["run_inbox"]
    assert len(events) == 4 and len(inboxes) == 2
    for row_id, row in events.items():
        if not str(row_id).startswith("core"):
            copy = events[core_id(row_id)]
            assert {**row, "id": 0, "event_id": 0} == {**copy, "id": 0, "event_id": 0}
    for row_id, row in inboxes.items():
        if row_id < 1000:
            assert {**row, "id": 0} == {**inboxes[row_id + 1000], "id": 0}
    harness.work()
    assert engine.get_run(run)["status"] == "SUCCEEDED"
