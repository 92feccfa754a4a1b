"""The Engine's Python methods refuse what the databases cannot store with a FlowpinError
(``input.invalid_value`` / ``input.too_long``), the same on SQLite and PostgreSQL, before any
database sees it — not with a psycopg or sqlite3 exception, and never by storing null for NaN."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

import pytest

from flowpin import Engine
from flowpin.engine.inputs import InputError
from flowpin.errors import FlowpinError

WAITS = {
    "key": "w",
    "steps": [
        {"id": "mark", "type": "state.set", "config": {"state": "WAITING"}},
        {"id": "wait", "type": "event.wait", "config": {"eventName": "go", "saveAs": "vars.go"}},
    ],
}
ASKS = {
    "key": "ask",
    "steps": [
        {
            "id": "ask",
            "type": "human.task",
            "config": {"title": "OK?", "formSchema": {"type": "object"}},
        }
    ],
}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    with Engine(db_url) as engine:
        engine.publish(WAITS)
        yield engine


def _bad_step_id(value: str) -> dict[str, Any]:
    return {"key": "x", "steps": [{"id": value, "type": "state.set", "config": {"state": "A"}}]}


BAD, LONG = "input.invalid_value", "input.too_long"

CALLS: dict[str, tuple[Callable[[Engine], Any], str]] = {
    "lone surrogate in a payload": (lambda e: e.start("w", {"a": "\ud800"}), BAD),
    "surrogate in a payload key": (lambda e: e.start("w", {"\udc80": 1}), BAD),
    "integer beyond 64 bits": (lambda e: e.start("w", {"a": 2**64}), BAD),
    "NaN": (lambda e: e.start("w", {"a": float("nan")}), BAD),
    "Infinity": (lambda e: e.start("w", {"a": [float("-inf")]}), BAD),
    "NUL in a payload": (lambda e: e.start("w", {"a": "x\x00"}), BAD),
    "a datetime": (lambda e: e.start("w", {"at": datetime.now(UTC)}), BAD),
    "a set": (lambda e: e.start("w", {"tags": {"a"}}), BAD),
    "a non-string key": (lambda e: e.start("w", {1: "a"}), BAD),
    "nesting over 100": (lambda e: e.start("w", {"a": _nested(100)}), BAD),
    "subject over 500": (lambda e: e.start("w", {}, subject="s" * 501), LONG),
    "NUL in a subject": (lambda e: e.start("w", {}, subject="s\x00"), BAD),
    "key over 500": (lambda e: e.start("w", {}, idempotency_key="k" * 501), LONG),
    "NUL in a workflow key": (lambda e: e.start("w\x00"), BAD),
    "event name": (lambda e: e.send_event("go\ud800"), BAD),
    "event name over 200": (lambda e: e.send_event("g" * 201), LONG),
    "event key": (lambda e: e.send_event("go", "k\x00"), BAD),
    "event payload": (lambda e: e.send_event("go", None, {"n": 2**70}), BAD),
    "events in a batch": (lambda e: e.send_events([{"name": "go", "payload": [1e999]}]), BAD),
    "event id over 200": (lambda e: e.send_event("go", event_id="i" * 201), LONG),
    "workflow name over 200": (lambda e: e.create_workflow("fresh", name="n" * 201), LONG),
    "definition name over 200": (lambda e: e.publish({**WAITS, "name": "n" * 201}), LONG),
    "step id surrogate": (lambda e: e.publish(_bad_step_id("\ud800")), BAD),
    "step id NUL": (lambda e: e.save_draft(_bad_step_id("a\x00")), BAD),
    "draft name NUL": (lambda e: e.save_draft({"key": "w", "name": "\x00"}), BAD),
    "layout NaN": (lambda e: e.set_layout("w", {"mark": {"x": float("nan")}}), BAD),
    "settings name": (lambda e: e.update_workflow("w", name="n" * 201), LONG),
    "duplicate name": (lambda e: e.duplicate_workflow("w", "w2", name="\ud800"), BAD),
    "secret value": (lambda e: e.put_secret("TOKEN", "\x00"), BAD),
    "key name": (lambda e: e.create_api_key("viewer", name="k" * 201), LONG),
    "run id NUL": (lambda e: e.get_run("a\x00b"), BAD),
    "task id NUL": (lambda e: e.get_task("a\x00b"), BAD),
    "cancel NUL": (lambda e: e.cancel("a\x00b"), BAD),
    "subject filter NUL": (lambda e: e.list_runs(subject="\x00"), BAD),
    "workflow lookup NUL": (lambda e: e.get_workflow("w\x00"), BAD),
    "event filter NUL": (lambda e: e.list_events(name="\x00"), BAD),
}  # fmt: skip


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("case", CALLS)
def test_unstorable_input_is_a_flowpin_error(engine: Engine, case: str) -> None:
    call, code = CALLS[case]
    with pytest.raises(FlowpinError) as raised:
        call(engine)
    assert isinstance(raised.value, InputError)
    assert raised.value.code == code
    assert engine.list_runs() == []


def test_task_data_that_cannot_be_stored_is_refused_and_the_task_stays_open(
    engine: Engine,
) -> None:
    engine.publish(ASKS)
    engine.start("ask")
    engine.run_worker(until_idle=True)
    task_id = engine.list_tasks()[0]["taskId"]
    with pytest.raises(InputError) as raised:
        engine.complete_task(task_id, {"n": float("inf")})
    assert raised.value.details == {
        "field": "data",
        "pointer": "/n",
        "problem": "is not a finite number (NaN, Infinity or too large)",
    }
    assert engine.get_task(task_id)["status"] == "open"


def test_the_largest_accepted_values_are_stored_unchanged(engine: Engine) -> None:
    payload = {"big": 2**63 - 1, "small": -(2**63), "f": 1e308, "deep": _nested(99), "s": "é🙂"}
    run_id = engine.start("w", payload, subject="s" * 500, idempotency_key="k" * 500)
    engine.run_worker(until_idle=True)
    run = engine.get_run(run_id)
    assert run["status"] == "WAITING" and run["state"]["payload"] == payload
    outcome = engine.send_event("go", "s" * 500, {"n": 2**63 - 1}, event_id="i" * 200)
    assert outcome.resumed == [run_id]  # the wait's key is the run's subject
    engine.run_worker(until_idle=True)
    assert engine.get_run(run_id)["state"]["vars"]["go"] == {"n": 2**63 - 1}


class Plan(StrEnum):
    PRO = "pro"


class Seats(IntEnum):
    THREE = 3


def test_subclasses_of_json_types_are_stored_as_their_values(engine: Engine) -> None:
    """A str or int enum, an OrderedDict, a tuple: JSON under another name, accepted as before."""
    payload = OrderedDict(plan=Plan.PRO, seats=Seats.THREE, pair=(1, 2))
    run_id = engine.start("w", payload)
    assert engine.get_run(run_id)["state"]["payload"] == {"plan": "pro", "seats": 3, "pair": [1, 2]}
