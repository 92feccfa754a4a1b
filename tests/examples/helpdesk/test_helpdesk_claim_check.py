"""The claim check on SQLite and PostgreSQL: a real ~600 KB message with a large attachment, far
over flowpin's expression (256 KiB) and run input (512 KiB) limits, becomes a ticket through
``flowpin ingest-eml``; only its reference travels through the event, the run and the step
history; the same file twice is one ticket and one comment; an unknown reference goes to a
person."""

from __future__ import annotations

import json
import random
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpdesk_kit import Helpdesk, states
from typer.testing import CliRunner

from examples.helpdesk import HelpdeskStore
from flowpin.cli.main import app as cli
from flowpin.engine import Engine
from flowpin.store.tables import action_ledger, events, runs, step_history

ROOT = Path(__file__).resolve().parents[3]
ATTACHMENT_BYTES = 450_000
"""Base64 makes it ~608 KB of message."""
SMALL_ROW = 16_384
"""Generous for a row of parsed headers and text; the message is 40 times that."""


def big_message(path: Path) -> bytes:
    """A genuine MIME message: a text body and a large PDF-like attachment."""
    message = EmailMessage()
    message["From"] = "Ann Müller <ann.mueller@acme.test>"
    message["To"] = "support@helpdesk.test"
    message["Subject"] = "Scan of the signed contract"
    message["Message-ID"] = "<big.20261122@mail.acme.test>"
    message["Date"] = "Sun, 22 Nov 2026 08:00:00 +0100"
    message.set_content("Hello,\n\nthe signed contract is attached.\n\nAnn\n")
    content = b"%PDF-1.4\n" + random.Random(7).randbytes(ATTACHMENT_BYTES - 9)
    message.add_attachment(
        content, maintype="application", subtype="pdf", filename="contract-signed.pdf"
    )
    data = message.as_bytes()
    path.write_bytes(data)
    return content


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def ingest(url: str, path: Path) -> dict[str, Any]:
    command = ["ingest-eml", str(path), "--db", url, "--install", "examples.helpdesk", "--work"]
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 0, result.output
    [sent] = lines(result.output)
    return sent


def stored_json_sizes(engine: Engine, run_id: str) -> dict[str, int]:
    """The largest JSON document the engine keeps for this run, per table."""

    def size(value: Any) -> int:
        return len(json.dumps(value)) if value is not None else 0

    with engine.db.read() as conn:
        run = conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()
        history = conn.execute(sa.select(step_history).where(step_history.c.run_id == run_id))
        ledger = conn.execute(sa.select(action_ledger).where(action_ledger.c.run_id == run_id))
        event_rows = conn.execute(sa.select(events)).all()
        return {
            "runs": max(size(run.payload), size(run.state), size(run.output)),
            "step_history": max(size(h.input) + size(h.output) + size(h.error) for h in history),
            "action_ledger": max(size(a.input) + size(a.output) for a in ledger),
            "events": max(size(e.payload) for e in event_rows),
        }


def test_a_600_kb_message_becomes_a_ticket_and_only_its_ref_travels(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HELPDESK_ATTACHMENTS_DIR", str(tmp_path / "files"))
    eml = tmp_path / "big.eml"
    content = big_message(eml)
    size = eml.stat().st_size
    assert size > 600_000

    sent = ingest(db_url, eml)
    [run] = sent["runs"]
    assert (run["status"], run["state"], run["output"]["outcome"]) == (
        "SUCCEEDED",
        "EMAIL_PROCESSED",
        "ticket-created",
    )
    assert run["output"]["attachments"] == 1 and sent["stored"] is True

    with Engine(db_url) as engine:
        store = HelpdeskStore(engine.db, engine.clock)
        assert store.inbound_bytes("default", sent["ref"]) == eml.read_bytes()
        ticket = store.ticket_view("default", run["output"]["ticketId"])
        assert ticket is not None and ticket["subject"] == "Scan of the signed contract"
        [attachment] = ticket["attachments"]
        assert (attachment["filename"], attachment["size"]) == ("contract-signed.pdf", len(content))
        assert Path(attachment["path"]).read_bytes() == content

        with engine.db.read() as conn:
            payload = conn.execute(
                sa.select(runs.c.payload).where(runs.c.id == run["runId"])
            ).scalar_one()
        assert payload == {
            "email": {
                "ref": sent["ref"],
                "size": size,
                "messageId": "<big.20261122@mail.acme.test>",
                "thread": "<big.20261122@mail.acme.test>",
                "from": "Ann Müller <ann.mueller@acme.test>",
                "to": "support@helpdesk.test",
                "subject": "Scan of the signed contract",
            }
        }
        sizes = stored_json_sizes(engine, run["runId"])
        assert max(sizes.values()) < SMALL_ROW, sizes

    again = ingest(db_url, eml)  # the same file: one event, one stored copy, no new run
    assert again["duplicate"] is True and again["stored"] is False
    assert again["ref"] == sent["ref"] and again["started"] == [run["runId"]]
    with Engine(db_url) as engine:
        counts = HelpdeskStore(engine.db, engine.clock).counts("default")
    assert (counts["tickets"], counts["comments"], counts["inbound"]) == (1, 1, 1)


def test_an_unknown_ref_goes_to_a_person(helpdesk: Helpdesk) -> None:
    ref = "0" * 64
    outcome = helpdesk.engine.send_event(
        "email.received", "<lost@acme.test>", {"ref": ref, "size": 10, "subject": "Lost"}
    )
    helpdesk.engine.run_worker(until_idle=True)
    run = helpdesk.engine.get_run(outcome.started[0], history=True)

    assert run["status"] == "WAITING"
    assert states(run) == [
        "PROCESSING_INBOUND_EMAIL",
        "ERROR_PROCESSING_EMAIL",
        "AWAITING_MANUAL_RESOLUTION",
    ]
    failed = [s for s in run["history"] if s["stepId"] == "parse-email"]
    assert [s["status"] for s in failed] == ["failed"]  # not retried: no retry can fix it
    [task] = helpdesk.engine.list_tasks()
    assert task["title"] == "Inbound email needs a person: Lost"
    assert task["description"].startswith(f"ERROR_PROCESSING_EMAIL: no inbound message {ref}")

    helpdesk.engine.complete_task(task["taskId"], {"decision": "discard", "note": "lost"})
    helpdesk.engine.run_worker(until_idle=True)
    assert helpdesk.engine.get_run(run["runId"])["output"]["outcome"] == "discarded"


def test_the_same_bytes_are_stored_once_per_tenant(helpdesk: Helpdesk) -> None:
    store = helpdesk.store
    ref, created = store.put_inbound("default", b"From: a@x.test\n\nhi\n")
    assert created and len(ref) == 64
    assert store.put_inbound("default", b"From: a@x.test\n\nhi\n") == (ref, False)
    assert store.put_inbound("other", b"From: a@x.test\n\nhi\n") == (ref, True)
    assert store.inbound_bytes("default", ref) == b"From: a@x.test\n\nhi\n"
    assert store.inbound_bytes("default", "f" * 64) is None
    assert store.counts("default")["inbound"] == 1
