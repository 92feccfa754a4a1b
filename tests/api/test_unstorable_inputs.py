"""Inputs the databases cannot store as given are a 400 in the error shape, the same on SQLite
and PostgreSQL — they used to be a plain-text 500 that reset the connection (lone surrogates,
integers beyond 64 bits; on PostgreSQL also NUL anywhere, a subject, idempotency key or workflow
name over its column's length), or were stored as null without a word (NaN, Infinity, 1e400)."""

from __future__ import annotations

from typing import Any

import pytest
from apikit import TASKER, WAITER, Client, error_code

from flowpin import Engine

LONG = "s" * 501
BAD = "input.invalid_value"
SCHEMA = "request.invalid"  # a maxLength the OpenAPI schema states


def run(fields: str) -> str:
    return '{"workflow": "waiter", ' + fields + "}"


def payload(value: str) -> str:
    return run(f'"payload": {value}')


# (method, url, raw JSON body, code, details.field or None)
CASES: list[tuple[str, str, str | None, str, str | None]] = [
    ("POST", "/api/runs", payload('{"n": "\\ud800"}'), BAD, "payload"),
    ("POST", "/api/runs", payload('{"n": 18446744073709551616}'), BAD, "payload"),
    ("POST", "/api/runs", payload('{"n": -9223372036854775809}'), BAD, "payload"),
    ("POST", "/api/runs", payload('{"n": NaN}'), BAD, "payload"),
    ("POST", "/api/runs", payload('{"n": Infinity}'), BAD, "payload"),
    ("POST", "/api/runs", payload('{"n": -Infinity}'), BAD, "payload"),
    ("POST", "/api/runs", payload('{"n": 1e400}'), BAD, "payload"),
    ("POST", "/api/runs", payload('{"n": "a\\u0000b"}'), BAD, "payload"),
    ("POST", "/api/runs", payload('{"\\u0000": 1}'), BAD, "payload"),
    ("POST", "/api/runs", payload('{"\\udc00": 1}'), BAD, "payload"),
    ("POST", "/api/runs", run('"subject": "\\ud800"'), BAD, "subject"),
    ("POST", "/api/runs", run('"subject": "a\\u0000"'), BAD, "subject"),
    ("POST", "/api/runs", run(f'"subject": "{LONG}"'), SCHEMA, None),
    ("POST", "/api/runs", run(f'"idempotencyKey": "{LONG}"'), SCHEMA, None),
    ("POST", "/api/runs", run('"idempotencyKey": "k\\u0000"'), BAD, "idempotencyKey"),
    ("POST", "/api/runs", '{"workflow": "wait\\u0000er"}', BAD, "workflow"),
    ("POST", "/api/events", '{"name": "go\\ud800"}', BAD, "name"),
    ("POST", "/api/events", '{"name": "go", "key": "k\\u0000"}', BAD, "key"),
    ("POST", "/api/events", '{"name": "go", "payload": [99999999999999999999]}', BAD, "payload"),
    ("POST", "/api/events", '{"name": "go", "payload": {"x": NaN}}', BAD, "payload"),
    ("POST", "/api/workflows", '{"key": "fresh", "name": "' + "n" * 201 + '"}', SCHEMA, None),
    ("POST", "/api/workflows", '{"key": "fresh", "name": "n\\u0000"}', BAD, "name"),
    ("POST", "/api/workflows", '{"key": "fresh", "draft": {"id": "\\ud800"}}', BAD, "draft"),
    ("PUT", "/api/workflows/waiter/draft",
     '{"expectedRevision": 0, "draft": {"name": "' + "n" * 201 + '"}}', "input.too_long", "name"),
    ("PUT", "/api/workflows/waiter/draft", '{"draft": {"steps": [{"id": "a\\u0000"}]}}',
     BAD, "draft"),
    ("POST", "/api/workflows/waiter/publish",
     '{"definition": {"steps": [{"id": "\\ud800", "type": "state.set"}]}}', BAD, "definition"),
    ("PUT", "/api/workflows/waiter/layout", '{"layout": {"mark": {"x": Infinity}}}', BAD, "layout"),
    ("PATCH", "/api/workflows/waiter", '{"name": "' + "n" * 201 + '"}', SCHEMA, None),
    ("POST", "/api/expressions/validate", '{"expression": "a", "sampleEnvelope": NaN}',
     BAD, "sampleEnvelope"),
    ("PUT", "/api/secrets/TOKEN", '{"value": "\\ud800"}', BAD, "value"),
    ("POST", "/api/keys", '{"role": "viewer", "name": "k\\u0000"}', BAD, "name"),
    ("GET", "/api/runs/abc%00def", None, BAD, "run_id"),
    ("GET", "/api/runs?subject=a%00b", None, BAD, "subject"),
    ("GET", "/api/workflows/wait%00er", None, BAD, "key"),
]  # fmt: skip


@pytest.fixture
def ready(client: Client, engine: Engine) -> Client:
    engine.publish(WAITER)
    engine.publish(TASKER)
    return client


@pytest.mark.parametrize(("method", "url", "body", "code", "field"), CASES)
def test_unstorable_input_is_a_400_in_the_error_shape(
    ready: Client, method: str, url: str, body: str | None, code: str, field: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    response = ready.request(method, url, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    if field is not None:
        assert response.json()["error"]["details"]["field"] == field


def test_nothing_is_stored_from_a_refused_request(ready: Client) -> None:
    for body in ('{"workflow": "waiter", "payload": {"n": NaN}}', '{"name": "go\\ud800"}'):
        ready.post("/api/runs", content=body, headers={"Content-Type": "application/json"})
    assert ready.get("/api/runs").json()["items"] == []
    assert ready.get("/api/events").json()["items"] == []


def test_the_pointer_names_the_bad_value(ready: Client) -> None:
    body = '{"workflow": "waiter", "payload": {"items": [{"ok": 1}, {"a/b": "x\\u0000"}]}}'
    response = ready.post("/api/runs", content=body, headers={"Content-Type": "application/json"})
    error = response.json()["error"]
    assert error["code"] == "input.invalid_value"
    assert error["details"] == {
        "field": "payload",
        "pointer": "/items/1/a~1b",
        "problem": "contains a NUL character (\\u0000)",
    }


def test_task_data_that_cannot_be_stored_is_refused(ready: Client, engine: Engine) -> None:
    engine.start("approve", {})
    engine.run_worker(until_idle=True)
    task_id = engine.list_tasks()[0]["taskId"]
    body = '{"data": {"ok": true, "note": "\\ud800"}}'
    response = ready.post(
        f"/api/tasks/{task_id}/complete", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and error_code(response) == "input.invalid_value"
    assert engine.get_task(task_id)["status"] == "open"


def test_limits_are_inclusive_and_stored_as_given(ready: Client, engine: Engine) -> None:
    """The largest accepted values are stored and read back unchanged on both databases."""
    payload: Any = {"n": 2**63 - 1, "m": -(2**63), "f": 1.7976931348623157e308, "s": "é🙂"}
    nested: Any = "bottom"
    for _ in range(99):  # with the payload object itself: 100 levels, the maximum
        nested = [nested]
    payload["deep"] = nested
    response = ready.post(
        "/api/runs",
        json={"workflow": "waiter", "payload": payload, "subject": "s" * 500},
    )
    assert response.status_code == 201, response.text
    assert engine.get_run(response.json()["runId"])["state"]["payload"] == payload
    payload["deep"] = [nested]
    response = ready.post("/api/runs", json={"workflow": "waiter", "payload": payload})
    assert response.status_code == 400 and error_code(response) == "input.invalid_value"
