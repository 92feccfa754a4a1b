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
