"""What a step brings into a run and saves under a redaction pointer - a person's task data, an
event's payload, an action's output - is masked in stored step history and in every API answer
that shows it (steps, tasks, events), even after the run has overwritten the saved value."""

from __future__ import annotations

from typing import Any

import pytest
from apikit import Client
from pydantic import BaseModel

from builders import action_call, assign, event_wait, expr, human_task, returns, workflow
from flowpin import Engine
from flowpin.registry.actions import action
from flowpin.security.redaction import MASK

CARD = "4111111111111111"
SSN = "078-05-1120"

FORM = {"type": "object", "required": ["ssn"], "properties": {"ssn": {"type": "string"}}}

KYC = workflow(
    "kyc",
    event_wait("wait", "card", saveAs="vars.card"),
    assign("forget-card", **{"vars.card": 0}),
    human_task("ask", "Identity", formSchema=FORM, saveAs="vars.answer"),
    assign("forget-ssn", **{"vars.answer": 0}),
    returns("done", {"ok": True}),
    settings={"redact": ["/vars/card/number", "/vars/answer/ssn"]},
)


def _published(client: Client) -> None:
    assert client.post("/api/workflows", json={"key": "kyc", "draft": KYC}).status_code == 201
    assert client.post("/api/workflows/kyc/publish").status_code == 201


def _start(client: Client) -> str:
    started = client.post("/api/runs", json={"workflow": "kyc", "subject": "c1", "payload": {}})
    assert started.status_code == 201, started.text
    return str(started.json()["runId"])


def _send_card(client: Client, ttl_ms: int | None) -> None:
    body: dict[str, Any] = {"name": "card", "key": "c1", "payload": {"number": CARD, "cvc": 7}}
    if ttl_ms is not None:
        body["ttlMs"] = ttl_ms
    sent = client.post("/api/events", json=body)
    assert sent.status_code == 202, sent.text
    assert CARD not in sent.text


def _steps(client: Client, run_id: str) -> dict[str, dict]:
    """The run's history as the API returns it, by step id."""
    items = client.get(f"/api/runs/{run_id}/steps").json()["items"]
    return {item["stepId"]: item for item in items}


def _never_stored(engine: Engine, run_id: str, secret: str) -> None:
    """Masked when written, not only when returned: the stored history never holds it."""
    for stored in engine.history(run_id):
        assert secret not in str(stored), stored


@pytest.mark.parametrize("delivery", ["waiting", "buffered"])
def test_task_data_and_event_payloads_under_pointers_are_masked_everywhere(
    client: Client, engine: Engine, delivery: str
) -> None:
    _published(client)
    if delivery == "buffered":  # sent before the run waits: held with ttlMs, consumed later
        _send_card(client, ttl_ms=60_000)
        run_id = _start(client)
    else:
        run_id = _start(client)
        engine.run_worker(until_idle=True)
        _send_card(client, ttl_ms=None)
    engine.run_worker(until_idle=True)

    events = client.get("/api/events?name=card")
    assert events.status_code == 200
    (event,) = events.json()["items"]
    assert event["payload"] == {"number": MASK, "cvc": 7}

    (task,) = client.get("/api/tasks").json()["items"]
    completed = client.post(f"/api/tasks/{task['taskId']}/complete", json={"data": {"ssn": SSN}})
    assert completed.status_code == 200, completed.text
    assert completed.json()["data"] == {"ssn": MASK}
    engine.run_worker(until_idle=True)

    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "SUCCEEDED"
    assert run["state"]["vars"] == {"card": 0, "answer": 0}  # the run overwrote both
    assert client.get(f"/api/tasks/{task['taskId']}").json()["data"] == {"ssn": MASK}
    assert SSN not in client.get("/api/tasks?status=all").text
    assert client.get("/api/events").json()["items"][0]["payload"]["number"] == MASK
    steps = _steps(client, run_id)
    assert steps["wait"]["output"] == {"number": MASK, "cvc": 7}
    assert steps["ask"]["output"] == {"ssn": MASK}
    for stored in engine.history(run_id):  # masked when written, not only when returned
        assert CARD not in str(stored) and SSN not in str(stored), stored
    assert engine.get_task(task["taskId"])["data"] == {"ssn": SSN}  # the task keeps the truth


def test_event_payloads_are_masked_by_key_pattern_in_the_event_list(client: Client) -> None:
    sent = client.post(
        "/api/events", json={"name": "login", "key": "u1", "payload": {"password": "pw", "n": 1}}
    )
    assert sent.status_code == 202
    (event,) = client.get("/api/events").json()["items"]
    assert event["payload"] == {"password": MASK, "n": 1}
    assert event["matched"] is False


def test_other_events_and_runs_keep_their_values(client: Client, engine: Engine) -> None:
    _published(client)
    run_id = _start(client)
    engine.run_worker(until_idle=True)
    _send_card(client, ttl_ms=None)
    other = client.post("/api/events", json={"name": "note", "key": "c1", "payload": {"n": CARD}})
    assert other.status_code == 202
    engine.run_worker(until_idle=True)
    items = {item["name"]: item for item in client.get("/api/events").json()["items"]}
    assert items["card"]["payload"]["number"] == MASK
    assert items["note"]["payload"] == {"n": CARD}  # reached no run: no pointer applies
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "WAITING"


class Lookup(BaseModel):
    name: str


class Person(BaseModel):
    name: str
    ssn: str


@action("test.lookup_person", version=1, effect="none")
def lookup_person(data: Lookup) -> Person:
    return Person(name=data.name, ssn=SSN)


LOOKUP = workflow(
    "lookup",
    event_wait("go"),
    action_call("find", "test.lookup_person", save_as="vars.person", inputMapping={"name": "Ann"}),
    assign("forget", **{"vars.person": 0}),
    returns("done", "ok"),
    settings={"redact": ["/vars/person/ssn"]},
)


def test_an_action_output_under_a_pointer_is_masked_after_the_run_overwrote_it(
    client: Client, engine: Engine
) -> None:
    engine.register(lookup_person)
    assert client.post("/api/workflows", json={"key": "lookup", "draft": LOOKUP}).is_success
    assert client.post("/api/workflows/lookup/publish").status_code == 201
    started = client.post("/api/runs", json={"workflow": "lookup", "subject": "s", "payload": {}})
    run_id = started.json()["runId"]
    engine.run_worker(until_idle=True)  # parks at the wait: the next checkpoint is a later one
    assert client.post("/api/events", json={"name": "go", "key": "s"}).status_code == 202
    engine.run_worker(until_idle=True)

    assert client.get(f"/api/runs/{run_id}").json()["status"] == "SUCCEEDED"
    steps = _steps(client, run_id)
    assert steps["find"]["output"] == {"name": "Ann", "ssn": MASK}
    _never_stored(engine, run_id, SSN)


class Check(BaseModel):
    ssn: str


class Verdict(BaseModel):
    ok: bool


@action("test.verify_ssn", version=1, effect="none")
def verify_ssn(data: Check) -> Verdict:
    return Verdict(ok=data.ssn == SSN)


VERIFY = workflow(
    "verify",
    human_task("ask", "Identity", formSchema=FORM, saveAs="vars.answer"),
    action_call(
        "verify",
        "test.verify_ssn",
        save_as="vars.verdict",
        inputMapping={"ssn": expr("vars.answer.ssn")},
    ),
    assign("forget", **{"vars.answer": 0}),
    returns("done", expr("vars.verdict")),
    settings={"redact": ["/vars/answer/ssn"]},
)


def test_task_data_sent_to_an_action_and_then_cleared_stays_masked_in_the_call_history(
    client: Client, engine: Engine
) -> None:
    """The worker writes the task's data and, after the action ran, the call and the clearing
    in a later checkpoint of the same claim: the call's input is still masked."""
    engine.register(verify_ssn)
    assert client.post("/api/workflows", json={"key": "verify", "draft": VERIFY}).is_success
    assert client.post("/api/workflows/verify/publish").status_code == 201
    started = client.post("/api/runs", json={"workflow": "verify", "subject": "s", "payload": {}})
    run_id = started.json()["runId"]
    engine.run_worker(until_idle=True)
    (task,) = client.get("/api/tasks").json()["items"]
    done = client.post(f"/api/tasks/{task['taskId']}/complete", json={"data": {"ssn": SSN}})
    assert done.status_code == 200, done.text
    engine.run_worker(until_idle=True)

    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "SUCCEEDED" and run["output"] == {"ok": True}
    steps = _steps(client, run_id)
    assert steps["verify"]["input"] == {"ssn": MASK}
    _never_stored(engine, run_id, SSN)


class Found(BaseModel):
    record: str


@action("test.find_record", version=1, effect="none")
def find_record(data: Lookup) -> Found:
    return Found(record=f"{data.name}:{SSN}")


COPY = workflow(
    "copy",
    action_call("find", "test.find_record", save_as="vars.found", inputMapping={"name": "Ann"}),
    assign("pick", **{"vars.person.ssn": expr("$substring(vars.found.record, 4)")}),
    assign("forget", **{"vars.person": 0}),
    returns("done", "ok"),
    settings={"redact": ["/vars/person/ssn"]},
)


def test_a_value_assigned_under_a_pointer_and_overwritten_before_the_checkpoint_is_masked(
    client: Client, engine: Engine
) -> None:
    """An assignment's output places its values at their paths, as ``saveAs`` does: the
    value is masked wherever it shows (here inside the action's output text too)."""
    engine.register(find_record)
    assert client.post("/api/workflows", json={"key": "copy", "draft": COPY}).is_success
    assert client.post("/api/workflows/copy/publish").status_code == 201
    started = client.post("/api/runs", json={"workflow": "copy", "subject": "s", "payload": {}})
    run_id = started.json()["runId"]
    engine.run_worker(until_idle=True)

    assert client.get(f"/api/runs/{run_id}").json()["status"] == "SUCCEEDED"
    steps = _steps(client, run_id)
    assert steps["pick"]["output"] == {"vars.person.ssn": MASK}
    assert steps["find"]["output"] == {"record": f"Ann:{MASK}"}
    _never_stored(engine, run_id, SSN)


KEEP = workflow(
    "keep",
    human_task("ask", "Identity", formSchema=FORM, saveAs="vars.answer"),
    assign("copy", **{"vars.copy": expr("vars.answer.ssn"), "vars.answer": 0}),
    event_wait("later"),
    returns("done", expr("vars.copy")),
    settings={"redact": ["/vars/answer/ssn"]},
)


def test_task_data_copied_and_cleared_before_the_run_parks_stays_masked_after_it_resumes(
    client: Client, engine: Engine
) -> None:
    """The value is gone from the pointer when the run parks; the run's next claim still
    masks its copy in the history it writes."""
    assert client.post("/api/workflows", json={"key": "keep", "draft": KEEP}).is_success
    assert client.post("/api/workflows/keep/publish").status_code == 201
    started = client.post("/api/runs", json={"workflow": "keep", "subject": "s", "payload": {}})
    run_id = started.json()["runId"]
    engine.run_worker(until_idle=True)
    (task,) = client.get("/api/tasks").json()["items"]
    done = client.post(f"/api/tasks/{task['taskId']}/complete", json={"data": {"ssn": SSN}})
    assert done.status_code == 200, done.text
    engine.run_worker(until_idle=True)
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "WAITING"
    assert client.post("/api/events", json={"name": "go", "key": "s"}).status_code == 202
    engine.run_worker(until_idle=True)

    run = client.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "SUCCEEDED" and run["output"] == MASK
    steps = _steps(client, run_id)
    assert steps["done"]["output"] == MASK
    _never_stored(engine, run_id, SSN)


GUARD = workflow(
    "guard",
    {
        "id": "guard",
        "type": "control.tryCatch",
        "captureErrorAs": "vars.err",
        "try": [
            {"id": "refuse", "type": "control.fail", "message": expr("'refused: ' & payload.ssn")}
        ],
        "catch": [assign("forget", **{"vars.err": 0})],
    },
    returns("done", "ok"),
    settings={"redact": ["/vars/err/message"]},
)


def test_a_caught_error_captured_under_a_pointer_and_cleared_is_masked_in_history(
    client: Client, engine: Engine
) -> None:
    """``captureErrorAs`` places the caught error where it was captured: its message is masked
    in the failing step's and the tryCatch's history though the catch cleared it."""
    assert client.post("/api/workflows", json={"key": "guard", "draft": GUARD}).is_success
    assert client.post("/api/workflows/guard/publish").status_code == 201
    started = client.post(
        "/api/runs", json={"workflow": "guard", "subject": "s", "payload": {"ssn": SSN}}
    )
    run_id = started.json()["runId"]
    engine.run_worker(until_idle=True)

    assert client.get(f"/api/runs/{run_id}").json()["status"] == "SUCCEEDED"
    caught = [
        item
        for item in client.get(f"/api/runs/{run_id}/steps").json()["items"]
        if item["stepId"] == "guard" and item["status"] == "caught"
    ]
    assert len(caught) == 1 and caught[0]["error"]["message"] == MASK
    for stored in engine.history(run_id):
        assert f"refused: {SSN}" not in str(stored), stored
