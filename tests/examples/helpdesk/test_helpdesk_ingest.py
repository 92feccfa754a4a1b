"""``flowpin ingest-eml`` in-process (typer's CliRunner), into a database and through a real
server on 127.0.0.1 (the helpdesk's inbound route), and the helpdesk's ticket view over HTTP."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.helpdesk.inbound import email_event
from helpdesk_kit import MESSAGES, Helpdesk
from typer.testing import CliRunner

from examples.helpdesk import mount
from flowpin.api import create_app
from flowpin.cli.main import app as cli
from waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "examples" / "helpdesk" / "messages"


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_event_for_a_message_is_keyed_by_message_id_and_carries_its_ref() -> None:
    data = (MESSAGES / "reply-token-body.eml").read_bytes()
    ref = hashlib.sha256(data).hexdigest()
    event = email_event(ref, data)
    assert event["name"] == "email.received"
    assert event["key"] == event["eventId"] == "<20261116113344.5120@mail.acme.test>"
    assert event["payload"] == {
        "ref": ref,
        "size": len(data),
        "messageId": "<20261116113344.5120@mail.acme.test>",
        "thread": "<20261116113344.5120@mail.acme.test>",
        "from": "Ann Müller <ann.mueller@acme.test>",
        "to": event["payload"]["to"],
        "subject": event["payload"]["subject"],
    }
    assert event["payload"]["to"].startswith("support@helpdesk.test")
    anonymous = email_event("ab" * 32, b"From: a@b.test\n\nno id\n")
    assert anonymous["key"] == "sha256:" + "ab" * 32 and anonymous["payload"]["messageId"] is None
    assert anonymous["payload"]["thread"] == "sha256:" + "ab" * 32


def test_the_event_carries_subject_and_sender_decoded() -> None:
    data = (MESSAGES / "bare-question-mark.eml").read_bytes()
    payload = email_event("ab" * 32, data)["payload"]
    assert payload["subject"] == "Rechnung für November – wo bleibt sie?"
    assert payload["from"] == "Jörg Weber <joerg.weber@acme.test>"
    cut_short = email_event("ab" * 32, (MESSAGES / "malformed.eml").read_bytes())["payload"]
    assert cut_short["subject"] == "broken"  # "=?utf-8?q?broken", a word cut short


def test_the_thread_of_a_message_is_its_first_reference_else_what_it_answers() -> None:
    def thread(headers: str) -> str:
        return email_event("cd" * 32, f"From: a@b.test\n{headers}\nhi\n".encode())["payload"][
            "thread"
        ]

    reply = (MESSAGES / "reply-thread-only.eml").read_bytes()
    assert email_event("ef" * 32, reply)["payload"]["thread"] == (
        "<20261116093012.4411@mail.acme.test>"
    )
    assert thread("Message-ID: <3@x>\nIn-Reply-To: <2@x>\nReferences: <1@x> <2@x>\n") == "<1@x>"
    assert thread("Message-ID: <3@x>\nIn-Reply-To: <2@x>\n") == "<2@x>"
    assert thread("Message-ID: <3@x>\n") == "<3@x>"


def test_ingest_into_the_database_and_work(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HELPDESK_ATTACHMENTS_DIR", str(tmp_path / "files"))
    url = f"sqlite:///{tmp_path / 'flowpin.db'}"
    files = [str(SHIPPED / name) for name in ("new-ticket.eml", "reply.eml", "with-attachment.eml")]
    command = ["ingest-eml", *files, "--db", url, "--install", "examples.helpdesk", "--work"]

    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    new, reply, attached = lines(result.output)
    assert [r["file"] for r in (new, reply, attached)] == files
    [run] = new["runs"]
    assert (run["status"], run["state"], run["output"]["outcome"]) == (
        "SUCCEEDED",
        "EMAIL_PROCESSED",
        "ticket-created",
    )
    assert reply["runs"][0]["output"]["ticketId"] == run["output"]["ticketId"]
    assert attached["runs"][0]["output"]["attachments"] == 2
    assert len(list((tmp_path / "files").rglob("*.pdf"))) == 1

    assert all(len(r["ref"]) == 64 and r["stored"] for r in (new, reply, attached))

    again = CliRunner().invoke(cli, command)
    repeated = lines(again.output)
    assert all(r["duplicate"] and r["runs"] and not r["stored"] for r in repeated)  # no new runs
    assert [r["ref"] for r in repeated] == [r["ref"] for r in (new, reply, attached)]


def test_ingest_needs_a_key_for_the_api(monkeypatch) -> None:
    monkeypatch.delenv("FLOWPIN_API_KEY", raising=False)
    result = CliRunner().invoke(
        cli, ["ingest-eml", str(SHIPPED / "new-ticket.eml"), "--api", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2 and "API key" in result.output


class Server:
    """flowpin's app plus the helpdesk view, on a free loopback port, with a worker thread."""

    def __init__(
        self,
        helpdesk: Helpdesk,
        max_body_bytes: int = 1_048_576,
        events_per_second: float | None = None,
    ) -> None:
        import uvicorn

        app = create_app(
            helpdesk.engine, max_body_bytes=max_body_bytes, events_per_second=events_per_second
        )
        mount(app, helpdesk.engine)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self.server.run, daemon=True),
            threading.Thread(
                target=helpdesk.engine.run_worker, kwargs={"stop": self.stop}, daemon=True
            ),
        ]

    def __enter__(self) -> str:
        for thread in self.threads:
            thread.start()
        wait_until(lambda: self.server.started, "the server to start", seconds=20)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.stop.set()
        for thread in self.threads:
            thread.join(20)


@pytest.fixture
def served(helpdesk: Helpdesk) -> Iterator[tuple[str, str, Helpdesk]]:
    key = helpdesk.engine.create_api_key("editor").key
    with Server(helpdesk, max_body_bytes=200_000) as base:
        yield base, key, helpdesk


SETTLED = ("SUCCEEDED", "FAILED", "WAITING")
"""Statuses a run rests in until something outside it happens."""


def wait_for_run(helpdesk: Helpdesk, run_id: str) -> dict[str, Any]:
    return wait_until(
        lambda: (run := helpdesk.engine.get_run(run_id))["status"] in SETTLED and run,
        f"run {run_id} to settle",
    )


def test_ingest_through_the_api_then_read_the_ticket_view(served: Any) -> None:
    base, key, helpdesk = served
    result = CliRunner().invoke(
        cli,
        ["ingest-eml", str(SHIPPED / "new-ticket.eml"), "--api", base],
        env={"FLOWPIN_API_KEY": key},
    )
    assert result.exit_code == 0, result.output
    [sent] = lines(result.output)
    assert sent["eventId"] == "<20261116093012.4411@mail.acme.test>" and not sent["duplicate"]
    data = (SHIPPED / "new-ticket.eml").read_bytes()
    assert sent["ref"] == hashlib.sha256(data).hexdigest() and sent["stored"] is True
    assert helpdesk.store.inbound_bytes("default", sent["ref"]) == data
    run = wait_for_run(helpdesk, sent["started"][0])
    assert run["status"] == "SUCCEEDED", run["error"]

    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/examples/helpdesk/tickets").status_code == 401
        [listed] = http.get("/examples/helpdesk/tickets", headers=auth).json()["items"]
        assert listed["subject"] == "Kundenportal öffnet nicht mehr" and listed["comments"] == 1
        ticket = http.get(f"/examples/helpdesk/tickets/{listed['id']}", headers=auth).json()
        assert ticket["contact"]["email"] == "ann.mueller@acme.test"
        assert ticket["comments"][0]["messageId"] == sent["eventId"]
        missing = http.get("/examples/helpdesk/tickets/nope", headers=auth)
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "ticket.not_found")

    again = CliRunner().invoke(
        cli,
        ["ingest-eml", str(SHIPPED / "new-ticket.eml"), "--api", base, "--key", key],
    )
    assert lines(again.output)[0]["duplicate"] is True


def test_the_inbound_route_stores_the_message_and_answers_202(served: Any) -> None:
    """What an inbound-mail webhook calls: the raw message, as message/rfc822."""
    base, key, helpdesk = served
    data = (SHIPPED / "with-attachment.eml").read_bytes()
    mail = {"Authorization": f"Bearer {key}", "Content-Type": "message/rfc822"}
    viewer = helpdesk.engine.create_api_key("viewer").key
    with httpx.Client(base_url=base, timeout=10) as http:
        route = "/examples/helpdesk/inbound"
        no_key = http.post(route, content=data, headers={"Content-Type": "message/rfc822"})
        assert no_key.status_code == 401
        as_viewer = http.post(
            route, content=data, headers={**mail, "Authorization": f"Bearer {viewer}"}
        )
        assert (as_viewer.status_code, as_viewer.json()["error"]["code"]) == (403, "auth.forbidden")
        as_json = http.post(route, json={"raw": "x"}, headers={"Authorization": f"Bearer {key}"})
        assert as_json.status_code == 415
        assert http.post(route, content=b"", headers=mail).status_code == 400
        too_big = http.post(route, content=data + b"x" * 200_000, headers=mail)
        assert too_big.status_code == 413  # the server's --max-body-bytes (200 000 here)
        assert helpdesk.store.counts("default")["inbound"] == 0

        response = http.post(route, content=data, headers=mail)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["ref"] == hashlib.sha256(data).hexdigest() and body["stored"] is True
        assert not body["duplicate"] and len(body["started"]) == 1
        run = wait_for_run(helpdesk, body["started"][0])
        assert run["status"] == "SUCCEEDED", run["error"]
        assert run["output"]["attachments"] == 2

        again = http.post(route, content=data, headers=mail).json()
        assert again["duplicate"] is True and again["stored"] is False
        assert again["started"] == body["started"]
    counts = helpdesk.store.counts("default")
    assert (counts["tickets"], counts["comments"], counts["inbound"]) == (1, 1, 1)


def test_the_inbound_route_counts_against_the_event_rate(helpdesk: Helpdesk) -> None:
    key = helpdesk.engine.create_api_key("editor").key
    mail = {"Authorization": f"Bearer {key}", "Content-Type": "message/rfc822"}
    route = "/examples/helpdesk/inbound"
    with (
        Server(helpdesk, events_per_second=0.001) as base,  # a burst of one
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        first = http.post(route, content=b"From: a@x.test\n\nhi\n", headers=mail)
        assert first.status_code == 202, first.text
        second = http.post(route, content=b"From: b@x.test\n\nhi\n", headers=mail)
        assert (second.status_code, second.json()["error"]["code"]) == (429, "limit.rate")
    assert helpdesk.store.counts("default")["inbound"] == 1


def wait_until_idle(helpdesk: Helpdesk, run_ids: list[str]) -> list[dict[str, Any]]:
    def settled() -> list[dict[str, Any]] | None:
        runs = [helpdesk.engine.get_run(run_id) for run_id in run_ids]
        return runs if all(run["status"] in SETTLED for run in runs) else None

    return wait_until(settled, "every run to settle")


def test_a_reply_sent_with_its_original_becomes_a_comment_on_its_ticket(served: Any) -> None:
    """Both files in one ingest call: the reply's run starts while the original's is still
    being processed, and waits for it (the thread is the workflow's concurrency key)."""
    base, key, helpdesk = served
    files = [str(SHIPPED / "new-ticket.eml"), str(SHIPPED / "reply.eml")]
    result = CliRunner().invoke(
        cli, ["ingest-eml", *files, "--api", base], env={"FLOWPIN_API_KEY": key}
    )
    assert result.exit_code == 0, result.output
    original, reply = lines(result.output)
    runs = wait_until_idle(helpdesk, original["started"] + reply["started"])
    assert [run["status"] for run in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert [run["output"]["outcome"] for run in runs] == ["ticket-created", "comment-added"]
    [ticket] = helpdesk.tickets()
    assert ticket["comments"] == 2  # the original's and the reply's
    assert runs[1]["output"]["ticketId"] == ticket["id"]


def test_a_decision_is_applied_from_the_command_line_without_a_server(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ticket defaults: the message goes to a person; ``tasks complete --work --install
    examples.helpdesk`` registers the helpdesk's actions, so the decision is applied."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HELPDESK_ATTACHMENTS_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("HELPDESK_SEED_DEFAULTS", "0")
    runner = CliRunner()
    ingest = ["ingest-eml", str(SHIPPED / "new-ticket.eml"), "--db", db_url]
    result = runner.invoke(cli, [*ingest, "--install", "examples.helpdesk", "--work"])
    assert result.exit_code == 0, result.output
    [run] = lines(result.output)[0]["runs"]
    assert (run["status"], run["state"]) == ("WAITING", "AWAITING_MANUAL_RESOLUTION")

    listed = runner.invoke(cli, ["tasks", "list", "--db", db_url])
    [task] = json.loads(listed.output)
    decision = json.dumps({"decision": "create-ticket", "note": "by hand"})
    complete = ["tasks", "complete", task["taskId"], "--data", decision, "--work"]
    done = runner.invoke(cli, [*complete, "--db", db_url, "--install", "examples.helpdesk"])
    assert done.exit_code == 0, done.output

    shown = json.loads(runner.invoke(cli, ["runs", "show", run["runId"], "--db", db_url]).output)
    assert shown["status"] == "SUCCEEDED", shown["error"]
    assert shown["output"]["outcome"] == "ticket-created"
    assert shown["output"]["resolvedBy"] == "person"


def test_a_worker_installs_the_helpdesk_too(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HELPDESK_ATTACHMENTS_DIR", str(tmp_path / "files"))
    runner = CliRunner()
    ingest = ["ingest-eml", str(SHIPPED / "new-ticket.eml"), "--db", db_url]
    result = runner.invoke(cli, [*ingest, "--install", "examples.helpdesk"])  # not worked
    assert result.exit_code == 0, result.output
    [run_id] = lines(result.output)[0]["started"]
    worked = runner.invoke(
        cli, ["worker", "--until-idle", "--db", db_url, "--install", "examples.helpdesk"]
    )
    assert worked.exit_code == 0, worked.output
    shown = json.loads(runner.invoke(cli, ["runs", "show", run_id, "--db", db_url]).output)
    assert shown["status"] == "SUCCEEDED", shown["error"]


def test_the_reply_code_reads_the_same_everywhere(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ticket's reply code (HD-…) is a reference every email of the thread carries, not
    a secret: ingest-eml's output, runs show and the ticket view show the same value."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HELPDESK_ATTACHMENTS_DIR", str(tmp_path / "files"))
    runner = CliRunner()
    ingest = ["ingest-eml", str(SHIPPED / "new-ticket.eml"), "--db", db_url]
    result = runner.invoke(cli, [*ingest, "--install", "examples.helpdesk", "--work"])
    assert result.exit_code == 0, result.output
    [run] = lines(result.output)[0]["runs"]
    code = run["output"]["replyCode"]
    assert code.startswith("HD-") and len(code) == 13

    shown = json.loads(runner.invoke(cli, ["runs", "show", run["runId"], "--db", db_url]).output)
    assert shown["output"]["replyCode"] == code
    assert shown["state"]["vars"]["posted"]["replyCode"] == code
    desk = Helpdesk.open(db_url, tmp_path / "files")
    try:
        assert desk.ticket(run["output"]["ticketId"])["replyCode"] == code
    finally:
        desk.close()


def test_the_api_shows_the_reply_code_as_the_ticket_view_does(served: Any) -> None:
    base, key, helpdesk = served
    auth = {"Authorization": f"Bearer {key}"}
    mail = {**auth, "Content-Type": "message/rfc822"}
    with httpx.Client(base_url=base, timeout=10) as http:
        sent = http.post(
            "/examples/helpdesk/inbound",
            content=(SHIPPED / "new-ticket.eml").read_bytes(),
            headers=mail,
        ).json()
        wait_for_run(helpdesk, sent["started"][0])
        run = http.get(f"/api/runs/{sent['started'][0]}", headers=auth).json()
        ticket = http.get(f"/examples/helpdesk/tickets/{run['output']['ticketId']}", headers=auth)
        code = ticket.json()["replyCode"]
        assert code.startswith("HD-") and run["output"]["replyCode"] == code
        steps = http.get(f"/api/runs/{sent['started'][0]}/steps", headers=auth).json()["items"]
        [created] = [step for step in steps if step["stepId"] == "create-ticket"]
        assert created["output"]["replyCode"] == code
