"""The welcome series end to end, on SQLite and PostgreSQL: real SMTP (aiosmtpd) and a real
webhook receiver on 127.0.0.1, days passing on a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import examples.journeys.actions as declared
import pytest
from journeys_kit import DAY, Journeys, SmtpSink, WebhookServer

from examples.journeys import JourneySettings, install
from flowpin.engine import Engine
from flowpin.errors import RegistryError
from flowpin.registry import Registry


@pytest.fixture
def journeys(db_url: str, smtp_sink: SmtpSink) -> Iterator[Journeys]:
    harness = Journeys(db_url, JourneySettings(smtp_port=smtp_sink.port))
    try:
        yield harness
    finally:
        harness.close()


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_an_open_within_three_days_brings_the_follow_up(
    journeys: Journeys, smtp_sink: SmtpSink
) -> None:
    ann = journeys.contact("ann@example.test", firstName="Ann")
    [run_id] = journeys.signup(ann, plan="pro").started

    [welcome] = smtp_sink.messages
    assert smtp_sink.recipients == [["ann@example.test"]]
    assert welcome["From"] == "Journeys <hello@journeys.example>"
    assert welcome["Subject"] == "Welcome aboard, Ann!"
    assert "Hi Ann,\n\nthanks for signing up for the pro plan." in text_of(welcome)
    assert "Your account is ann@example.test." in text_of(welcome)
    assert welcome["Message-ID"] == journeys.run(run_id)["state"]["vars"]["welcome"]["messageId"]
    assert journeys.run(run_id)["waitingFor"][0]["stepId"] == "delay"

    journeys.advance(2 * DAY)  # the delay is over: now waiting for the open
    [waiting] = journeys.run(run_id)["waitingFor"]
    assert waiting["stepId"] == "wait-open"
    assert len(smtp_sink.messages) == 1

    journeys.advance(2 * DAY + timedelta(hours=23))  # still inside the 3 days
    assert journeys.opened(ann).resumed == [run_id]

    run = journeys.run(run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["exit"] == "completed"
    follow_up = smtp_sink.messages[1]
    assert follow_up["To"] == "ann@example.test"
    assert follow_up["Subject"] == "Ann, three tips for your pro account"
    assert "three tips for pro accounts" in text_of(follow_up)
    assert follow_up["Message-ID"] != welcome["Message-ID"]
    assert journeys.contacts.get("default", ann).data == {
        "firstName": "Ann",
        "track": "pro",
        "welcomeSeries": "completed",
    }


def test_no_open_in_three_days_exits_with_a_reason(journeys: Journeys, smtp_sink: SmtpSink) -> None:
    bob = journeys.contact("bob@example.test", firstName="Bob")
    [run_id] = journeys.signup(bob).started

    journeys.advance(5 * DAY - timedelta(minutes=1))
    assert journeys.run(run_id)["status"] == "WAITING"  # a minute before the timeout
    journeys.advance(timedelta(minutes=1))

    run = journeys.run(run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["output"] == {"exit": "not-opened", "contactId": bob, "track": "free"}
    assert journeys.output_of(run_id, "wait-open") is None
    steps = journeys.steps(run_id)
    assert "exit-not-opened" in steps and "send-follow-up" not in steps
    assert [m["Subject"] for m in smtp_sink.messages] == ["Welcome aboard, Bob!"]
    assert journeys.contacts.get("default", bob).data["welcomeSeries"] == "not-opened"
    assert journeys.opened(bob).resumed == []  # too late: nothing waits any more


def test_an_open_tracked_during_the_delay_takes_the_opened_branch(
    journeys: Journeys, smtp_sink: SmtpSink
) -> None:
    """Nothing waits for ``email.opened`` during the 2-day delay; the example's tracking
    endpoint keeps the open for the journey's window, and the wait takes it when it starts."""
    ivy = journeys.contact("ivy@example.test", firstName="Ivy")
    [run_id] = journeys.signup(ivy, plan="pro").started
    started = journeys.clock.now()
    journeys.advance(DAY + timedelta(hours=5))
    assert journeys.run(run_id)["waitingFor"][0]["stepId"] == "delay"

    with journeys.api() as (client, headers):
        tracked = client.post(
            f"/examples/journeys/contacts/{ivy}/track",
            json={"event": "email.opened", "data": {"campaign": "welcome"}},
            headers=headers,
        )
    assert tracked.status_code == 202, tracked.text
    assert tracked.json()["resumed"] == []  # nothing waits yet

    journeys.advance(DAY)  # the delay ends: the wait starts and takes the open at once

    run = journeys.run(run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["exit"] == "completed"
    assert run["finishedAt"] == (started + 2 * DAY).isoformat().replace("+00:00", "Z")
    assert journeys.output_of(run_id, "wait-open") == {"campaign": "welcome"}
    steps = journeys.steps(run_id)
    assert "send-follow-up" in steps and "exit-not-opened" not in steps
    assert [m["Subject"] for m in smtp_sink.messages] == [
        "Welcome aboard, Ivy!",
        "Ivy, three tips for your pro account",
    ]


def test_an_open_from_an_earlier_journey_does_not_count_for_the_next(
    journeys: Journeys, smtp_sink: SmtpSink
) -> None:
    """The open is kept for five days, but the next journey of the same contact waits for an
    open of its own."""
    kim = journeys.contact("kim@example.test", firstName="Kim")
    [first] = journeys.signup(kim).started
    journeys.advance(DAY)
    journeys.opened(kim)
    journeys.advance(DAY)
    assert journeys.run(first)["output"]["exit"] == "completed"

    [second] = journeys.signup(kim).started
    journeys.advance(2 * DAY + timedelta(hours=1))
    [waiting] = journeys.run(second)["waitingFor"]
    assert waiting["stepId"] == "wait-open"  # the first journey's open, still held, is not taken

    journeys.advance(3 * DAY)
    assert journeys.run(second)["output"]["exit"] == "not-opened"
    assert len(smtp_sink.messages) == 3  # welcome, follow-up, welcome


def test_an_unsubscribed_contact_gets_no_marketing_email_and_moves_on(
    journeys: Journeys, smtp_sink: SmtpSink
) -> None:
    cid = journeys.contact("cy@example.test", subscribed=False, firstName="Cy")
    [run_id] = journeys.signup(cid, plan="pro").started

    assert smtp_sink.messages == []
    skipped = {"sent": False, "messageId": None, "reason": "unsubscribed"}
    assert journeys.output_of(run_id, "send-welcome") == skipped
    assert journeys.run(run_id)["waitingFor"][0]["stepId"] == "delay"  # the journey goes on
    assert journeys.contacts.get("default", cid).data["track"] == "pro"

    journeys.advance(3 * DAY)
    journeys.opened(cid)
    run = journeys.run(run_id)
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["followUp"] == skipped
    assert smtp_sink.messages == []


def test_unsubscribing_during_the_journey_stops_the_follow_up(
    journeys: Journeys, smtp_sink: SmtpSink
) -> None:
    dee = journeys.contact("dee@example.test")
    [run_id] = journeys.signup(dee).started
    assert len(smtp_sink.messages) == 1

    journeys.contacts.update("default", dee, subscribed=False)  # e.g. the unsubscribe link
    journeys.advance(2 * DAY + timedelta(hours=1))
    journeys.opened(dee)

    assert journeys.output_of(run_id, "send-follow-up")["reason"] == "unsubscribed"
    assert journeys.run(run_id)["status"] == "SUCCEEDED"
    assert len(smtp_sink.messages) == 1


def test_a_retried_send_keeps_its_message_id(journeys: Journeys, smtp_sink: SmtpSink) -> None:
    """The relay stores the message but answers 451; the retry sends the same Message-ID, so the
    duplicate is recognisable downstream."""
    smtp_sink.fail_next = 1
    eve = journeys.contact("eve@example.test", firstName="Eve")
    [run_id] = journeys.signup(eve).started
    assert len(smtp_sink.messages) == 1
    assert journeys.run(run_id)["waitingFor"][0]["stepId"] == "send-welcome"  # backing off

    journeys.advance(timedelta(minutes=10))

    first, second = smtp_sink.messages
    assert first["Message-ID"] == second["Message-ID"]
    assert first["X-Flowpin-Idempotency-Key"] == second["X-Flowpin-Idempotency-Key"]
    assert text_of(first) == text_of(second)
    sent = journeys.run(run_id)["state"]["vars"]["welcome"]
    assert sent == {"sent": True, "messageId": second["Message-ID"], "reason": None}
    attempts = [
        (entry["attempt"], entry["status"])
        for entry in journeys.engine.history(run_id)
        if entry["stepId"] == "send-welcome"
    ]
    assert attempts == [(1, "retrying"), (2, "succeeded")]


def test_a_second_signup_joins_no_second_journey_until_the_first_ends(
    journeys: Journeys, smtp_sink: SmtpSink
) -> None:
    fay = journeys.contact("fay@example.test")
    [first] = journeys.signup(fay).started

    assert journeys.signup(fay).started == []  # notWhileActive
    assert len(smtp_sink.messages) == 1
    assert [r["runId"] for r in journeys.engine.list_runs(subject=fay)] == [first]

    journeys.advance(5 * DAY)
    assert journeys.run(first)["status"] == "SUCCEEDED"

    [second] = journeys.signup(fay).started
    assert second != first
    assert len(smtp_sink.messages) == 2


@pytest.mark.parametrize(
    ("signup", "case", "track"),
    [
        ({"plan": "enterprise"}, "enterprise", "enterprise"),
        ({"plan": "team", "seats": 80}, "enterprise", "enterprise"),
        ({"plan": "pro"}, "pro", "pro"),
        ({"plan": "pro-trial"}, "trial", "trial"),
        ({"plan": "starter"}, "default", "free"),
        ({}, "default", "free"),
    ],
)
def test_the_plan_switch_takes_the_matching_case(
    journeys: Journeys, signup: dict[str, object], case: str, track: str
) -> None:
    gus = journeys.contact("gus@example.test")
    [run_id] = journeys.signup(gus, **signup).started
    assert journeys.output_of(run_id, "route-plan") == {"branch": case}
    assert journeys.run(run_id)["state"]["vars"]["track"] == track
    assert journeys.contacts.get("default", gus).data == {
        "track": track,
        "welcomeSeries": "started",
    }


def test_a_signup_without_payload_starts_the_free_track(journeys: Journeys) -> None:
    jo = journeys.contact("jo@example.test")
    [run_id] = journeys.engine.send_event("contact.signed_up", jo).started
    assert journeys.run(run_id)["state"]["payload"] == {"contact": {"id": jo}}
    journeys.engine.run_worker(until_idle=True)
    assert journeys.run(run_id)["state"]["vars"]["track"] == "free"


def test_the_application_hears_about_the_track_by_webhook(
    db_url: str,
    smtp_sink: SmtpSink,
    webhook_server: WebhookServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLOWPIN_HTTP_ALLOW", "127.0.0.1")  # the receiver is on loopback
    settings = JourneySettings(smtp_port=smtp_sink.port, webhook_url=webhook_server.url())
    journeys = Journeys(db_url, settings)
    try:
        hal = journeys.contact("hal@example.test")
        [run_id] = journeys.signup(hal, plan="enterprise").started
        run = journeys.run(run_id)
    finally:
        journeys.close()

    [hook] = webhook_server.received
    assert hook.path == "/hooks/journeys"
    assert hook.body == {
        "type": "journey.track_assigned",
        "journey": "welcome-series",
        "runId": run_id,
        "contactId": hal,
        "track": "enterprise",
        "welcomeEmail": {
            "sent": True,
            "messageId": smtp_sink.messages[0]["Message-ID"],
            "reason": None,
        },
    }
    assert hook.headers["idempotency-key"]
    assert run["state"]["vars"]["webhook"]["status"] == 204


def test_install_is_idempotent(sqlite_url: str, smtp_sink: SmtpSink) -> None:
    journeys = Journeys(sqlite_url, JourneySettings(smtp_port=smtp_sink.port))
    try:
        install(journeys.engine, JourneySettings(smtp_port=smtp_sink.port))
        assert [v["version"] for v in journeys.engine.versions("welcome-series")] == [1]
    finally:
        journeys.close()


def test_unbound_declarations_are_refused(sqlite_url: str) -> None:
    """``--actions examples.journeys.actions`` would register actions with no database."""
    registry = Registry()
    registry.register(declared)
    with Engine(sqlite_url, registry=registry) as engine, pytest.raises(RegistryError):
        install(engine, JourneySettings())
