"""A workflow's ``settings.concurrencyKey``: runs with the same key run one at a time, in the
order they started, each holding the key until it ends (waits included); runs of other keys,
and runs whose key is null, are not held back."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from flowpin.clock import FakeClock
from flowpin.definitions.validate import validate
from flowpin.engine import Engine
from flowpin.engine.metrics_port import QueueCollector
from flowpin.errors import DefinitionError, FlowpinError
from flowpin.registry.actions import action
from flowpin.registry.catalog import Registry
from flowpin.store import claims
from flowpin.store import tables as t
from flowpin.worker.loop import WorkerOptions
from waiting import wait_until


class Step(BaseModel):
    thread: str
    n: int
    part: str


class Noted(BaseModel):
    ok: bool


class Journal:
    """What the handler saw: every call in order, and how many runs of each key were inside a
    handler at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, int, str]] = []
        self.inside: dict[str, int] = defaultdict(int)
        self.most_inside: dict[str, int] = defaultdict(int)


JOURNAL = Journal()


@action("test.note", version=1, effect="none")
def note(step: Step) -> Noted:
    with JOURNAL.lock:
        JOURNAL.calls.append((step.thread, step.n, step.part))
        JOURNAL.inside[step.thread] += 1
        JOURNAL.most_inside[step.thread] = max(
            JOURNAL.most_inside[step.thread], JOURNAL.inside[step.thread]
        )
    time.sleep(0.005)  # other runs of the key would overlap here, were they allowed to
    with JOURNAL.lock:
        JOURNAL.inside[step.thread] -= 1
    return Noted(ok=True)


def _call(part: str) -> dict[str, Any]:
    return {
        "id": part,
        "type": "action.call",
        "config": {
            "actionId": "test.note",
            "version": 1,
            "inputMapping": {
                "thread": {"$expr": "payload.thread"},
                "n": {"$expr": "payload.n"},
                "part": part,
            },
        },
    }


THREADED = {
    "key": "threaded",
    "settings": {"concurrencyKey": {"$expr": "payload.thread"}},
    "steps": [_call("first"), _call("second"), _call("third")],
}

HELD = {
    "key": "held",
    "settings": {"concurrencyKey": {"$expr": "payload.thread"}},
    "steps": [
        {
            "id": "ask",
            "type": "human.task",
            "config": {
                "title": "decide",
                "formSchema": {"type": "object"},
                "timeoutMs": 3_600_000,
                "saveAs": "vars.answer",
            },
        },
        {"id": "end", "type": "control.return", "output": {"$expr": "payload.n"}},
    ],
}


class Switch:
    failing = False


SWITCH = Switch()


@action("test.flaky", version=1, effect="none")
def flaky(step: Step) -> Noted:
    if SWITCH.failing:
        raise RuntimeError("down for maintenance")
    return Noted(ok=True)


RETRIED = {
    "key": "retried",
    "settings": {"concurrencyKey": {"$expr": "payload.thread"}},
    "steps": [
        {
            "id": "call",
            "type": "action.call",
            "config": {
                "actionId": "test.flaky",
                "version": 1,
                "inputMapping": {"thread": {"$expr": "payload.thread"}, "n": 0, "part": "call"},
            },
        },
        HELD["steps"][0],
        {"id": "end", "type": "control.return", "output": {"$expr": "payload.n"}},
    ],
}


def _engine(url: str, clock: FakeClock | None = None) -> Engine:
    registry = Registry()
    registry.register(note)
    registry.register(flaky)
    return Engine(url, registry=registry, clock=clock)


def _claim(engine: Engine, owner: str) -> list[str]:
    with engine.db.write() as conn:
        return [r.id for r in claims.claim_runs(conn, owner, engine.clock.now(), 30.0, 100)]


def _per_thread(calls: list[tuple[str, int, str]]) -> dict[str, list[tuple[int, str]]]:
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for thread, n, part in calls:
        grouped[thread].append((n, part))
    return grouped


def _in_order(runs: int) -> list[tuple[int, str]]:
    return [(n, part) for n in range(runs) for part in ("first", "second", "third")]


def test_runs_of_one_key_run_one_at_a_time_in_start_order(db_url: str) -> None:
    """One worker claims many runs at once; without the key it would interleave their steps
    (every run's first call, then every second)."""
    JOURNAL.__init__()  # type: ignore[misc]
    with _engine(db_url) as engine:
        engine.publish(THREADED)
        for n in range(4):
            for thread in ("a", "b", "c"):
                engine.start("threaded", {"thread": thread, "n": n})
        engine.run_worker(until_idle=True)
        grouped = _per_thread(JOURNAL.calls)
        assert grouped == {thread: _in_order(4) for thread in ("a", "b", "c")}
        assert set(JOURNAL.most_inside.values()) == {1}
        # The keys did not wait for each other: the first runs of a, b and c began before
        # any of them ended.
        firsts = [call for call in JOURNAL.calls[:3]]
        assert sorted(thread for thread, _n, _part in firsts) == ["a", "b", "c"]


def test_two_workers_never_run_two_runs_of_a_key_at_once(db_url: str) -> None:
    JOURNAL.__init__()  # type: ignore[misc]
    with _engine(db_url) as engine:
        engine.publish(THREADED)
        runs = [
            engine.start("threaded", {"thread": thread, "n": n})
            for n in range(5)
            for thread in ("a", "b")
        ]
        stop = threading.Event()
        options = WorkerOptions(concurrency=16, poll_seconds=0.02)
        workers = [
            threading.Thread(target=engine.run_worker, kwargs={"options": options, "stop": stop})
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        try:
            wait_until(
                lambda: {engine.get_run(r)["status"] for r in runs} == {"SUCCEEDED"},
                "every run to succeed",
                seconds=60,
            )
        finally:
            stop.set()
            for worker in workers:
                worker.join(10)
        assert _per_thread(JOURNAL.calls) == {"a": _in_order(5), "b": _in_order(5)}
        assert dict(JOURNAL.most_inside) == {"a": 1, "b": 1}


def test_a_waiting_run_holds_its_key_until_it_ends(db_url: str) -> None:
    """The next run of the key starts when the first one's human task is answered and it
    ends - and a worker with only such queued runs goes idle instead of spinning."""
    with _engine(db_url) as engine:
        engine.publish(HELD)
        first = engine.start("held", {"thread": "t", "n": 1})
        second = engine.start("held", {"thread": "t", "n": 2})
        other = engine.start("held", {"thread": "u", "n": 3})
        engine.run_worker(until_idle=True)
        status = {run: engine.get_run(run)["status"] for run in (first, second, other)}
        assert status == {first: "WAITING", second: "PENDING", other: "WAITING"}
        assert engine.get_run(second)["concurrencyKey"] == "t"  # what it waits for

        depth = {m.name: m.samples[0].value for m in QueueCollector(engine.deps).collect()}
        assert depth["flowpin_runs_due"] == 0  # the queued run waits for its key, not a worker

        [task] = [x for x in engine.list_tasks(status="open") if x["runId"] == first]
        engine.complete_task(task["taskId"], {})
        engine.run_worker(until_idle=True)
        assert engine.get_run(first)["status"] == "SUCCEEDED"
        assert engine.get_run(second)["status"] == "WAITING"  # its turn: asking a person now


def test_claims_take_only_the_next_run_of_each_key(db_url: str) -> None:
    clock = FakeClock()  # every run starts at the same instant: the order is the start order
    with _engine(db_url, clock) as engine:
        engine.publish(THREADED)
        a1, a2, b1 = (
            engine.start("threaded", {"thread": thread, "n": n})
            for thread, n in (("a", 1), ("a", 2), ("b", 1))
        )
        unkeyed = [engine.start("threaded", {"n": n}) for n in range(3)]  # null key: no queue
        assert set(_claim(engine, "w1")) == {a1, b1, *unkeyed}
        assert _claim(engine, "w2") == []
        with engine.db.write() as conn:  # a1 ends
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == a1)
                .values(
                    status="CANCELED",
                    finished_at=clock.now(),
                    wake_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
        assert _claim(engine, "w2") == [a2]


def test_a_lease_that_lapses_keeps_the_key_with_its_run(db_url: str) -> None:
    """A worker that died mid-run: its run is claimed again before the next of its key."""
    clock = FakeClock()
    with _engine(db_url, clock) as engine:
        engine.publish(THREADED)
        first = engine.start("threaded", {"thread": "a", "n": 1})
        engine.start("threaded", {"thread": "a", "n": 2})
        assert _claim(engine, "w1") == [first]
        clock.advance(timedelta(seconds=31))
        assert _claim(engine, "w2") == [first]


def test_a_long_key_is_stored_as_its_hash_and_still_orders(db_url: str) -> None:
    with _engine(db_url) as engine:
        engine.publish(THREADED)
        thread = "<" + "x" * 1200 + "@mail.test>"
        runs = [engine.start("threaded", {"thread": thread, "n": n}) for n in range(2)]
        with engine.db.read() as conn:
            keys = conn.execute(
                sa.select(t.runs.c.concurrency_key).where(t.runs.c.id.in_(runs))
            ).scalars()
            assert {len(key) for key in keys} == {len("sha256:") + 64}
        assert _claim(engine, "w1") == [runs[0]]


def test_a_payload_that_gives_no_usable_key_is_refused(db_url: str) -> None:
    with _engine(db_url) as engine:
        engine.publish(THREADED)
        with pytest.raises(FlowpinError) as refused:
            engine.start("threaded", {"thread": {"not": "a string"}, "n": 1})
        assert refused.value.code == "run.invalid_payload"
        assert "concurrencyKey" in refused.value.message
        engine.start("threaded", {"thread": 7, "n": 1})  # a number is its JSON text


def test_publish_checks_the_key(db_url: str) -> None:
    def codes(settings: dict[str, Any]) -> list[str]:
        document = {**THREADED, "settings": settings}
        return [p.code for p in validate(document) if p.is_error]

    assert codes({"concurrencyKey": {"$expr": "payload.thread"}}) == []
    assert codes({"concurrencyKey": "everything-in-one-queue"}) == []
    assert codes({"concurrencyKey": {"$expr": "vars.thread"}}) == ["INVALID_CONCURRENCY_KEY"]
    assert codes({"concurrencyKey": {"$expr": "payload.("}}) == ["INVALID_EXPRESSION"]
    assert codes({"concurrencyKey": 12}) == ["INVALID_CONCURRENCY_KEY"]
    assert codes({"concurrencyKey": {"$secret": "KEY"}}) == ["INVALID_CONCURRENCY_KEY"]
    with _engine(db_url) as engine, pytest.raises(DefinitionError) as refused:
        engine.publish({**THREADED, "settings": {"concurrencyKey": {"$expr": "meta.x"}}})
    [problem] = refused.value.details
    assert problem["code"] == "INVALID_CONCURRENCY_KEY"
    assert problem["path"] == "settings.concurrencyKey"


def test_a_retried_run_goes_first_and_the_later_one_waits_for_it(db_url: str) -> None:
    """A failed run ended and gave up its key; retried while a later run of the key waits
    for a person, it runs again, and the later run, answered meanwhile, continues only after
    the retried one ended: never two executing at once."""

    def task_of(engine: Engine, run_id: str) -> str:
        [task] = [x for x in engine.list_tasks(status="open") if x["runId"] == run_id]
        return str(task["taskId"])

    with _engine(db_url) as engine:
        engine.publish(RETRIED)
        SWITCH.failing = True
        first = engine.start("retried", {"thread": "t", "n": 1})
        engine.run_worker(until_idle=True)
        assert engine.get_run(first)["status"] == "FAILED"
        SWITCH.failing = False
        later = engine.start("retried", {"thread": "t", "n": 2})
        engine.run_worker(until_idle=True)
        assert engine.get_run(later)["status"] == "WAITING"

        engine.retry(first)
        engine.run_worker(until_idle=True)
        assert engine.get_run(first)["status"] == "WAITING"  # at its task, holding the key
        engine.complete_task(task_of(engine, later), {})
        engine.run_worker(until_idle=True)  # goes idle: the later run waits for the first
        assert engine.get_run(later)["status"] == "WAITING"
        engine.complete_task(task_of(engine, first), {})
        engine.run_worker(until_idle=True)
        first_run, later_run = engine.get_run(first), engine.get_run(later)
        assert (first_run["status"], later_run["status"]) == ("SUCCEEDED", "SUCCEEDED")
        assert first_run["finishedAt"] < later_run["finishedAt"]
