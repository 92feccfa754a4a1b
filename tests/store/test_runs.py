"""Creating and closing runs in ``store.runs``, on both databases: ``insert_runs`` pins a run to
its version and lets the database refuse a duplicate; ``close_runs`` leaves nothing of an ended
run open and tells a parent waiting for it how it ended."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from storekit import inbox, run_row, waits

from builders import call_workflow, event_wait, human_task, state_set, workflow
from flowpin.store import tables as t
from flowpin.store.runs import ClosedRun, NewRun, close_runs, insert_runs, run_of
from flowpin.store.waits import EndedWait, resolve_waits
from flowpin.store.workflows import version_row, workflow_row

ONE_STEP = workflow("one", state_set("done", "DONE"), output="v1")


def new_run(harness: Any, key: str = "one", **fields: Any) -> NewRun:
    """A ``NewRun`` of the newest version of ``key``."""
    with harness.engine.db.read() as conn:
        wf = workflow_row(conn, "default", key)
        version = version_row(conn, wf.id, None)
        definition = harness.engine.deps.definitions.definition_in(conn, version.id)
    new = NewRun(
        tenant_id="default",
        workflow_id=wf.id,
        workflow_key=key,
        version_id=version.id,
        version_number=version.number,
        definition=definition,
        payload={"n": 1},
        **fields,
    )
    return new


def test_a_new_run_is_pending_due_now_and_pinned_to_its_version(harness) -> None:
    harness.engine.publish(ONE_STEP)
    new = new_run(harness, subject="s")
    now = harness.clock.now()
    with harness.engine.db.write() as conn:
        [written] = insert_runs(conn, [new], now)
    assert written is not None
    run_id = written["id"]
    row = run_row(harness, run_id)
    assert (row.status, row.version_id, row.subject, row.payload) == (
        "PENDING",
        new.version_id,
        "s",
        {"n": 1},
    )
    assert row.wake_at is not None and row.lease_owner is None
    harness.engine.publish(workflow("one", state_set("done", "DONE"), output="v2"))  # newer
    harness.work()
    assert harness.engine.get_run(run_id)["output"] == "v1"  # ran the version it was pinned to


def test_a_duplicate_start_is_refused_by_the_database_and_the_transaction_goes_on(
    harness,
) -> None:
    harness.engine.publish(ONE_STEP)
    new = new_run(harness, idempotency_key="k1")
    now = harness.clock.now()
    with harness.engine.db.write() as conn:
        [written] = insert_runs(conn, [new], now)
        assert written is not None
        first = written["id"]
        again = NewRun(**{**_fields(new), "idempotency_key": None, "run_id": first})
        other = NewRun(**{**_fields(new), "idempotency_key": "k2"})
        # the same key again, a child id already created, then a new key: one batch, in which
        # the two duplicates are refused and the third is written
        refused_key, refused_id, written = insert_runs(conn, [new, again, other], now)
        assert (refused_key, refused_id) == (None, None)
        assert written is not None
        other_id = written["id"]
    with harness.engine.db.read() as conn:
        ids = set(conn.execute(sa.select(t.runs.c.id)).scalars())
    assert ids == {first, other_id}


def test_a_run_inserted_through_the_driver_is_stored_as_core_stores_it(harness) -> None:
    """On SQLite ``insert_runs`` writes through the driver's cursor (``statements.DriverInsert``):
    every column's stored form (JSON text, UTC time text, NULLs) is what a Core insert of the
    same values stores."""
    harness.engine.publish(ONE_STEP)
    new = new_run(harness, subject="s", idempotency_key="k")
    with harness.engine.db.write() as conn:
        [written] = insert_runs(conn, [new], harness.clock.now())
        assert written is not None
        conn.execute(t.runs.insert(), {**written, "id": "by-core", "idempotency_key": "k-core"})
    with harness.engine.db.read() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM runs").mappings().fetchall()
    stored = {row["id"]: dict(row) for row in rows}
    ours, core = stored[written["id"]], stored["by-core"]
    assert {**ours, "id": "by-core", "idempotency_key": "k-core"} == core
    assert isinstance(ours["state"], str if harness.engine.db.is_sqlite else dict)


def test_closing_a_run_ends_its_waits_and_tasks_drops_its_inbox_and_tells_its_parent(
    harness,
) -> None:
    engine = harness.engine
    child = workflow(
        "child",
        {
            "id": "par",
            "type": "control.parallel",
            "branches": [
                {"id": "asking", "steps": [human_task("ask")]},
                {"id": "hearing", "steps": [event_wait("hear", "go")]},
                {"id": "later", "steps": [event_wait("more", "later")]},
            ],
        },
    )
    engine.publish(child)
    engine.publish(workflow("parent", call_workflow("call", "child", saveAs="vars.child")))
    parent_id = engine.start("parent", {})
    harness.work()
    child_id = engine.get_run(parent_id)["waitingFor"][0]["childRunId"]
    [parent_wait] = [w for w in waits(harness) if w.run_id == parent_id]
    heard = next(w for w in waits(harness) if w.run_id == child_id and w.kind == "event")
    now = harness.clock.now()
    with engine.db.write() as conn:  # an input arrived for the child, not yet taken
        resolve_waits(conn, [EndedWait(heard.id, child_id, heard.token, "event", {})], now)
    assert [row.run_id for row in inbox(harness)] == [child_id]

    error = {"code": "run.canceled", "message": "canceled"}
    with engine.db.write() as conn:
        close_runs(conn, [ClosedRun(child_id, "CANCELED", None, error)], now)

    child_waits = [w for w in waits(harness) if w.run_id == child_id]
    assert sorted(w.status for w in child_waits) == ["canceled", "canceled", "resolved"]
    with engine.db.read() as conn:
        tasks = conn.execute(sa.select(t.human_tasks.c.status)).scalars().all()
    assert tasks == ["canceled"]
    [told] = inbox(harness)  # the child's input is gone; the parent's wait received the end
    assert (told.run_id, told.token, told.kind) == (parent_id, parent_wait.token, "child")
    assert told.body == {"status": "CANCELED", "output": None, "error": error}
    assert run_row(harness, parent_id).wake_at is not None


def _fields(new: NewRun) -> dict[str, Any]:
    return {name: getattr(new, name) for name in NewRun.__dataclass_fields__}


def test_run_of_reads_every_column_as_core_does(harness) -> None:
    """``run_of`` runs on SQLite's own cursor (``statements.DriverRead``): the same values, of
    the same types (JSON documents, aware UTC times), as a Core read of the row."""
    harness.engine.publish(ONE_STEP)
    harness.engine.publish(workflow("parked", event_wait("wait")))
    done = harness.engine.start("one", {"n": 1}, subject="s")
    parked = harness.engine.start("parked", {"deep": {"list": [1, "x", None]}})
    harness.work()
    pending = harness.engine.start("one", {})
    for run_id in (done, parked, pending):
        with harness.engine.db.read() as conn:
            read = run_of(conn, "default", run_id)
        expected = run_row(harness, run_id)._asdict()
        assert read._asdict() == expected
        assert [type(v) for v in read._asdict().values()] == [type(v) for v in expected.values()]
    assert run_row(harness, done).output == "v1"
    with harness.engine.db.read() as conn:
        assert run_of(conn, "default", "no-such-run") is None
        assert run_of(conn, "another-tenant", done) is None
