"""A workflow using both built-in actions, end to end through the Engine on SQLite and
PostgreSQL: a webhook step (retried after a 503 with the same Idempotency-Key) and an email step
whose SMTP password is a secret from the environment."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from flowpin.clock import FakeClock
from flowpin.definitions.validate import validate
from flowpin.engine import Engine
from flowpin.registry import Registry
from flowpin.testing.kit import advance

HOOK_TOKEN = "hook-token-0451"
SMTP_PASSWORD = "smtp-pw-0451"


def definition(hook_url: str, smtp_port: int) -> dict[str, Any]:
    return {
        "key": "ticket-notify",
        "steps": [
            {
                "id": "hook",
                "type": "action.call",
                "config": {
                    "actionId": "http.request",
                    "version": 1,
                    "inputMapping": {
                        "method": "POST",
                        "url": hook_url,
                        "headers": {"Authorization": {"$secret": "HOOK_TOKEN"}},
                        "body": {"subject": {"$expr": "payload.subject"}},
                        "failOnStatus": True,
                    },
                    "saveAs": "vars.hook",
                },
                "retry": {"maxAttempts": 3, "backoffMs": 1000, "jitter": "none"},
            },
            {
                "id": "mail",
                "type": "action.call",
                "config": {
                    "actionId": "email.send",
                    "version": 1,
                    "inputMapping": {
                        "smtp": {
                            "host": "127.0.0.1",
                            "port": smtp_port,
                            "security": "none",
                            "username": "mailer",
                            "password": {"$secret": "SMTP_PASSWORD"},
                            "timeoutMs": 5000,
                        },
                        "from": "Support <support@example.test>",
                        "to": [{"$expr": "payload.contact.email"}],
                        "subject": "Ticket {{ ticket.id }} opened",
                        "textBody": "Hi {{ contact.name }}, ticket {{ ticket.id }} is open.",
                        "htmlBody": "<p>Hi {{ contact.name }}</p>",
                        "context": {
                            "ticket": {"$expr": "vars.hook.body"},
                            "contact": {"$expr": "payload.contact"},
                        },
                    },
                    "saveAs": "vars.mail",
                },
            },
        ],
        "output": {"$expr": "{'ticket': vars.hook.body.id, 'messageId': vars.mail.messageId}"},
    }


def test_validation_knows_the_builtin_actions() -> None:
    document = definition("http://127.0.0.1:1/hook", 25)
    assert [p for p in validate(document, Registry()) if p.is_error] == []
    del document["steps"][1]["config"]["inputMapping"]["to"]
    del document["steps"][1]["config"]["inputMapping"]["smtp"]["host"]
    problems = [(p.code, p.details.get("field")) for p in validate(document, Registry())]
    assert ("MISSING_REQUIRED_INPUT", "to") in problems
    assert ("MISSING_REQUIRED_INPUT", "smtp.host") in problems


def test_webhook_and_email_workflow(db_url, http_server, smtp_factory, monkeypatch) -> None:
    monkeypatch.setenv("FLOWPIN_HTTP_ALLOW", "127.0.0.1")
    monkeypatch.setenv("FLOWPIN_SMTP_ALLOW", "127.0.0.1")
    monkeypatch.setenv("FLOWPIN_ENV_SECRET_HOOK_TOKEN", HOOK_TOKEN)
    monkeypatch.setenv("FLOWPIN_ENV_SECRET_SMTP_PASSWORD", SMTP_PASSWORD)
    answers = iter([(503, {}, b"busy"), (201, {"Content-Type": "application/json"}, b'{"id": 7}')])
    http_server.routes["/hook"] = lambda seen: next(answers)
    smtp = smtp_factory(credentials=("mailer", SMTP_PASSWORD))

    clock = FakeClock()
    engine = Engine(db_url, clock=clock)
    try:
        engine.publish(definition(http_server.url("/hook"), smtp.port))
        run_id = engine.start(
            "ticket-notify",
            {"subject": "Printer on fire", "contact": {"name": "Ann", "email": "ann@example.test"}},
        )
        engine.run_worker(until_idle=True)
        assert engine.get_run(run_id)["status"] != "SUCCEEDED"  # parked for the retry
        advance(engine, clock, timedelta(seconds=5))
        run = engine.get_run(run_id)
        assert run["status"] == "SUCCEEDED", run
        history = json.dumps(engine.history(run_id), default=str)
    finally:
        engine.close()

    first, second = http_server.requests
    assert first.json() == second.json() == {"subject": "Printer on fire"}
    assert first.headers["authorization"] == second.headers["authorization"] == HOOK_TOKEN
    key = first.headers["idempotency-key"]
    assert key and second.headers["idempotency-key"] == key  # the retry is recognisable

    [mail] = smtp.messages
    assert smtp.logins == [("mailer", SMTP_PASSWORD)]
    assert mail["Subject"] == "Ticket 7 opened"
    assert mail["To"] == "ann@example.test"
    assert mail.get_body(preferencelist=("plain",)).get_content() == ("Hi Ann, ticket 7 is open.\n")
    mail_key = mail["X-Flowpin-Idempotency-Key"]
    assert mail["Message-ID"] == f"<{mail_key}@flowpin>"
    assert run["output"] == {"ticket": 7, "messageId": f"<{mail_key}@flowpin>"}
    # secrets are resolved at call time only: never in the stored history
    assert HOOK_TOKEN not in history and SMTP_PASSWORD not in history
    # and the Authorization header (a sensitive key) is masked in the stored input
    assert '"Authorization": "[redacted]"' in history


@pytest.mark.parametrize("status", [400])
def test_a_permanent_webhook_failure_fails_the_run(
    sqlite_url, http_server, monkeypatch, status: int
) -> None:
    monkeypatch.setenv("FLOWPIN_HTTP_ALLOW", "127.0.0.1")
    monkeypatch.setenv("FLOWPIN_ENV_SECRET_HOOK_TOKEN", HOOK_TOKEN)
    http_server.route("/hook", status, {"error": "bad ticket"})
    engine = Engine(sqlite_url, clock=FakeClock())
    try:
        engine.publish(definition(http_server.url("/hook"), 25))
        run_id = engine.start("ticket-notify", {"subject": "x", "contact": {}})
        engine.run_worker(until_idle=True)
        run = engine.get_run(run_id)
    finally:
        engine.close()
    assert run["status"] == "FAILED"
    assert run["error"]["category"] == "ActionError"
    assert run["error"]["data"]["status"] == status
    assert run["error"]["data"]["body"] == {"error": "bad ticket"}
    assert len(http_server.requests) == 1  # not retryable: one attempt


def test_the_step_timeout_applies_to_a_webhook(sqlite_url, http_server, monkeypatch) -> None:
    """The worker's per-step ``timeoutMs`` bounds the call even when the action's own timeout
    (10 s by default) is longer."""
    monkeypatch.setenv("FLOWPIN_HTTP_ALLOW", "127.0.0.1")

    def slow(seen: Any) -> tuple[int, dict[str, str], bytes]:
        http_server.release.wait(5)
        return 200, {}, b"late"

    http_server.routes["/slow"] = slow
    document = {
        "key": "slow-hook",
        "steps": [
            {
                "id": "hook",
                "type": "action.call",
                "config": {
                    "actionId": "http.request",
                    "version": 1,
                    "inputMapping": {"url": http_server.url("/slow")},
                },
                "timeoutMs": 200,
            }
        ],
    }
    engine = Engine(sqlite_url, clock=FakeClock())
    try:
        engine.publish(document)
        run_id = engine.start("slow-hook", {})
        engine.run_worker(until_idle=True)
        run = engine.get_run(run_id)
    finally:
        engine.close()
    assert run["status"] == "FAILED"
    assert run["error"]["category"] == "TimeoutError"
