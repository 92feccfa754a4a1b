"""Migrating journeys in flight, on SQLite and PostgreSQL: 50 welcome series parked on v1 (half
in the 2-day delay, half waiting for the open), v2 inserts a nudge email after the delay; the
runs in the delay move to v2 and send the nudge, the others finish on v1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from journeys_kit import DAY, ApiClient, Journeys, SmtpSink

from examples.journeys import JourneySettings
from flowpin.api import create_app

JOURNEYS = Path(__file__).resolve().parents[3] / "examples/journeys"
V2 = JOURNEYS / "versions/welcome-series.v2.json"
WORKFLOW = JOURNEYS / "workflows/welcome-series.json"
PARKED = 25


@pytest.fixture
def journeys(db_url: str, smtp_sink: SmtpSink) -> Iterator[Journeys]:
    harness = Journeys(db_url, JourneySettings(smtp_port=smtp_sink.port))
    try:
        yield harness
    finally:
        harness.close()


def _sign_up(journeys: Journeys, names: list[str]) -> list[str]:
    runs = []
    for name in names:
        contact = journeys.contact(f"{name}@example.test", firstName=name.capitalize())
        [run_id] = journeys.engine.send_event("contact.signed_up", contact, {"plan": "pro"}).started
        runs.append(run_id)
    journeys.engine.run_worker(until_idle=True)
    return runs


def _migrate(client: ApiClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = client.post(
        "/api/workflows/welcome-series/migrations",
        json={"fromVersion": 1, "toVersion": 2, **body},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_runs_in_the_delay_move_to_v2_and_send_the_nudge_the_others_finish_on_v1(
    journeys: Journeys, smtp_sink: SmtpSink
) -> None:
    opening = _sign_up(journeys, [f"early{n}" for n in range(PARKED)])
    journeys.advance(2 * DAY + timedelta(hours=1))  # these now wait for the open
    delayed = _sign_up(journeys, [f"late{n}" for n in range(PARKED)])
    assert {journeys.run(r)["waitingFor"][0]["stepId"] for r in opening} == {"wait-open"}
    assert {journeys.run(r)["waitingFor"][0]["stepId"] for r in delayed} == {"delay"}
    due_before = {r: journeys.run(r)["waitingFor"][0]["dueAt"] for r in delayed}
    assert journeys.engine.publish(V2).version == 2

    app = create_app(journeys.engine)
    client = ApiClient(app)
    headers = {"Authorization": f"Bearer {journeys.engine.create_api_key('admin').key}"}
    try:
        dry = _migrate(client, headers)
        assert dry["dryRun"] is True
        assert dry["summary"] == {
            "selected": 2 * PARKED,
            "ok": 2 * PARKED,
            "moved": 0,
            "blocked": 0,
            "retryLater": 0,
        }
        positions = {run["runId"]: run["positions"] for run in dry["runs"]}
        assert positions[delayed[0]] == [
            {
                "from": "delay",
                "to": "delay",
                "fromStep": "delay",
                "toStep": "delay",
                "waiting": "timer",
                "action": "keep",
            }
        ]
        assert positions[opening[0]][0]["waiting"] == "event"
        assert {journeys.run(r)["version"] for r in opening + delayed} == {1}  # nothing moved

        applied = _migrate(client, headers, runs={"step": "delay"}, dryRun=False)
    finally:
        client.close()
    assert applied["summary"]["moved"] == PARKED
    assert sorted(run["runId"] for run in applied["runs"]) == sorted(delayed)
    for run_id in delayed:
        run = journeys.run(run_id)
        assert run["version"] == 2
        assert run["waitingFor"][0]["dueAt"] == due_before[run_id]  # the timer kept its time
    assert {journeys.run(r)["version"] for r in opening} == {1}

    journeys.advance(2 * DAY)  # the moved runs' delay ends: the nudge, then the wait
    for run_id in opening + delayed:
        journeys.opened(journeys.run(run_id)["state"]["payload"]["contact"]["id"])

    for run_id in delayed:
        run = journeys.run(run_id)
        assert (run["status"], run["version"]) == ("SUCCEEDED", 2)
        assert run["output"]["exit"] == "completed"
        history = journeys.engine.history(run_id)
        versions = {entry["stepId"]: entry["version"] for entry in history}
        assert versions["send-welcome"] == 1 and versions["delay"] == 2
        assert versions["send-nudge"] == 2 and versions["send-follow-up"] == 2
        [migration] = [entry for entry in history if entry["type"] == "migration"]
        assert migration["input"]["fromVersion"] == 1 and migration["input"]["toVersion"] == 2
    for run_id in opening:
        run = journeys.run(run_id)
        assert (run["status"], run["version"]) == ("SUCCEEDED", 1)
        assert run["output"]["exit"] == "completed"
        steps = [entry["stepId"] for entry in journeys.engine.history(run_id)]
        assert "send-nudge" not in steps
        assert {entry["version"] for entry in journeys.engine.history(run_id)} == {1}

    subjects = [message["Subject"] for message in smtp_sink.messages]
    nudges = [subject for subject in subjects if "account is ready" in subject]
    assert sorted(nudges) == sorted(f"Late{n}, your pro account is ready" for n in range(PARKED))
    assert len(subjects) == 2 * PARKED + PARKED + 2 * PARKED  # welcome, nudge, follow-up
    print(json.dumps({"dryRun": dry["summary"], "applied": applied["summary"]}))


def test_shadow_of_a_changed_plan_condition_shows_where_journeys_would_differ(
    journeys: Journeys, smtp_sink: SmtpSink
) -> None:
    """v3 counts 10+ seats (not 50+) as enterprise: re-evaluated against the recorded
    journeys, only the 20-seat pro contact's would route differently; nothing is sent."""
    contacts = {"ann": {"plan": "pro", "seats": 20}, "bob": {"plan": "pro", "seats": 2}}
    runs = {}
    for name, payload in contacts.items():
        contact = journeys.contact(f"{name}@example.test", firstName=name.capitalize())
        [runs[name]] = journeys.engine.send_event("contact.signed_up", contact, payload).started
    journeys.engine.run_worker(until_idle=True)
    journeys.advance(5 * DAY)  # no opens: both journeys end "not-opened"
    sent = len(smtp_sink.messages)
    v1 = json.loads(WORKFLOW.read_text())
    [route] = [step for step in v1["steps"] if step["id"] == "route-plan"]
    route["cases"][0]["when"]["any"][1]["value"] = 10
    assert journeys.engine.publish(v1).version == 2

    app = create_app(journeys.engine)
    client = ApiClient(app)
    headers = {"Authorization": f"Bearer {journeys.engine.create_api_key('editor').key}"}
    try:
        answer = client.post(
            "/api/workflows/welcome-series/shadow",
            json={"version": 2, "runs": {"last": 10}},
            headers=headers,
        )
    finally:
        client.close()
    assert answer.status_code == 200, answer.text
    report = answer.json()
    by_run = {run["runId"]: run for run in report["runs"]}
    assert by_run[runs["bob"]]["result"] == "same"
    ann = by_run[runs["ann"]]
    assert ann["result"] == "diverges"
    divergence = ann["divergence"]
    assert (divergence["stepId"], divergence["what"]) == ("route-plan", "branch")
    assert divergence["expected"]["output"] == {"branch": "enterprise"}
    assert divergence["actual"]["output"] == {"branch": "pro"}
    assert len(smtp_sink.messages) == sent  # nothing was called
    print(json.dumps(ann, indent=2))
