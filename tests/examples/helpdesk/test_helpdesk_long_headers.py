"""Mail with headers longer than the helpdesk's columns (a 300-character display name, a
1,200-character Message-ID, a 1,500-character subject: folded, they are legal mail) becomes a
ticket on both databases, threads and deduplicates like any other; what is cut is marked."""

from __future__ import annotations

from email.message import EmailMessage

from examples.helpdesk.store import MARK
from helpdesk_kit import Helpdesk

LONG_ID = "<" + "a1b2c3d4e5" * 120 + "@mail.acme.test>"
OTHER_LONG_ID = "<" + "a1b2c3d4e5" * 120 + "@mail.other.test>"  # same first 1,200 characters
LONG_NAME = "Dr. " + "Annemarie-Sophie " * 18 + "Müller"


def _mail(message_id: str, subject: str, *, answers: str | None = None) -> bytes:
    mail = EmailMessage()
    mail["From"] = f'"{LONG_NAME}" <ann@acme.test>'
    mail["To"] = "support@helpdesk.test"
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    if answers is not None:
        mail["In-Reply-To"] = answers
        mail["References"] = answers
    mail.set_content("Das Portal ist wieder weiß.\n")
    return bytes(mail)


def test_long_headers_make_a_ticket_that_threads_and_deduplicates(helpdesk: Helpdesk) -> None:
    assert len(LONG_NAME) > 300 and len(LONG_ID) > 1200
    subject = "Portal " + "kaputt " * 214
    run = helpdesk.deliver_bytes(_mail(LONG_ID, subject))
    assert run["status"] == "SUCCEEDED", run["error"]
    ticket = helpdesk.ticket(run["output"]["ticketId"])
    assert ticket["subject"].endswith(MARK) and subject.startswith(ticket["subject"][:-1])
    contact = ticket["contact"]
    assert contact["name"].endswith(MARK) and LONG_NAME.startswith(contact["name"][:-1])
    assert ticket["sourceMessageId"].startswith(LONG_ID[:500])

    again = helpdesk.deliver_bytes(_mail(LONG_ID, "the same message, delivered again"))
    assert again["output"]["ticketId"] == ticket["id"] and again["output"]["duplicate"] is True

    reply = helpdesk.deliver_bytes(_mail("<reply.1@mail.acme.test>", "Re: Portal", answers=LONG_ID))
    assert reply["output"]["outcome"] == "comment-added", reply["error"]
    assert reply["output"]["ticketId"] == ticket["id"]

    other = helpdesk.deliver_bytes(_mail(OTHER_LONG_ID, "another message, alike at first"))
    assert other["output"]["outcome"] == "ticket-created"
    assert other["output"]["ticketId"] != ticket["id"]
