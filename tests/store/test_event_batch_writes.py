"""What a batch of events writes, on both databases (on PostgreSQL one statement does all of
it: ``store.event_writes_pg``): each resumed wait ends with its run's inbox row, in the order
the waits were opened, the runs wake and finish with the event they waited for, every event is
stored with its outcome (a missing payload as JSON null, as before), and listening workers are
told only when something was resumed."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa

from builders import event_wait, expr, returns, workflow
from flowpin.store import tables as t
from flowpin.store.notify import CHANNEL


def waiter(key: str) -> dict:
    return workflow(
        key, event_wait("wait", "go", saveAs="vars.got"), returns("out", expr("vars.got"))
    )


def test_a_batch_resumes_its_waits_in_order_and_stores_every_event(harness) -> None:
    engine = harness.engine
    engine.publish(waiter("waiter"))
    first = engine.start("waiter", {}, subject="a")
    second = engine.start("waiter", {}, subject="a")
    other = engine.start("waiter", {}, subject="b")
    harness.work()

    outcomes = engine.send_events(
        [
            {"name": "go", "key": "a", "payload": {"n": 1}},
            {"name": "nobody", "key": "a"},
            {"name": "go", "key": "b", "payload": {"n": 2}},
        ]
    )
    assert [sorted(o.resumed) for o in outcomes] == [sorted([first, second]), [], [other]]

    with engine.db.read() as conn:
        inbox = conn.execute(sa.select(t.run_inbox.c.run_id).order_by(t.run_inbox.c.id)).all()
        waits = conn.execute(
            sa.select(t.waits.c.run_id, t.waits.c.status).order_by(t.waits.c.id)
        ).all()
        events = {row.name + "/" + row.key: row for row in conn.execute(sa.select(t.events)).all()}
    opened = [run for run, _status in waits if run != other]  # the order the waits opened in
    assert [row.run_id for row in inbox] == [*opened, other]
    assert {status for _run, status in waits} == {"resolved"}
    assert events["go/a"].payload == {"n": 1} and events["go/a"].matched
    assert sorted(events["go/a"].result["resumed"]) == sorted([first, second])
    assert events["nobody/a"].payload is None and not events["nobody/a"].matched
    assert events["nobody/a"].result == {"resumed": [], "started": []}

    harness.work()
    assert [engine.get_run(r)["output"] for r in (first, second, other)] == [
        {"n": 1},
        {"n": 1},
        {"n": 2},
    ]


def test_postgres_writes_a_batch_in_one_statement_and_wakes_workers_only_for_a_resume(
    pg_url: str,
) -> None:
    from flowpin.engine import Engine

    with Engine(pg_url) as engine:
        engine.publish(waiter("waiter"))
        run_id = engine.start("waiter", {}, subject="a")
        engine.run_worker(until_idle=True)
        statements: list[str] = []
        sa.event.listen(
            engine.db.engine,
            "before_cursor_execute",
            lambda _c, _cur, statement, *_rest: statements.append(statement),
        )
        with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            engine.send_event("nobody", "a")
            assert list(listener.notifies(timeout=0.5, stop_after=1)) == []
            engine.send_event("go", "a", {"n": 1})
            heard = list(listener.notifies(timeout=5, stop_after=1))
        assert [n.channel for n in heard] == [CHANNEL]
        # Per batch: the open waits, the triggers, and one statement for all the writes.
        assert len(statements) == 6, statements
        engine.run_worker(until_idle=True)
        assert engine.get_run(run_id)["output"] == {"n": 1}
