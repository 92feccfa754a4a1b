"""``email-to-ticket`` end to end on SQLite and PostgreSQL: real .eml files submitted as
``email.received``, the worker runs the published workflow, the helpdesk tables and the files on
disk show the result."""

from __future__ import annotations

from pathlib import Path

import pytest
from examples.helpdesk.inbound import email_event, receive
from helpdesk_kit import Helpdesk, message, states

from flowpin.engine.facade import TaskDataInvalid

HAPPY_NEW = [
    "PROCESSING_INBOUND_EMAIL",
    "CHECKING_EMAIL_THREADING",
    "MATCHING_EMAIL_CLIENT",
    "RESOLVING_TICKET_DEFAULTS",
    "CREATING_TICKET",
    "EMAIL_PROCESSED",
]


def test_new_message_becomes_a_ticket_with_its_initial_comment(helpdesk: Helpdesk) -> None:
    acme = helpdesk.store.add_client("default", "Acme GmbH", "acme.test")
    run = helpdesk.deliver("new-ticket.eml")

    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["subject"] == "Kundenportal öffnet nicht mehr — Ann Müller <Ann.Mueller@acme.test>"
    assert states(run) == HAPPY_NEW
    assert run["state"]["meta"]["state"] == "EMAIL_PROCESSED"
    output = run["output"]
    assert output["outcome"] == "ticket-created" and output["contactCreated"] is True
    ticket = helpdesk.ticket(output["ticketId"])
    assert ticket["subject"] == "Kundenportal öffnet nicht mehr"
    assert (ticket["board"], ticket["status"], ticket["priority"]) == ("Support", "new", "normal")
    assert ticket["clientId"] == acme  # matched by the sender's domain
    assert ticket["replyCode"] == output["replyCode"] and ticket["replyCode"].startswith("HD-")
    assert ticket["contact"]["email"] == "ann.mueller@acme.test"
    [comment] = ticket["comments"]
    assert comment["initial"] and comment["id"] == output["commentId"]
    assert comment["body"].endswith("Können Sie sich das bitte ansehen?")
    assert "Acme GmbH · +49" not in comment["body"]  # signature stripped


def test_a_run_is_named_by_the_subject_and_sender_and_two_alike_both_run(
    helpdesk: Helpdesk,
) -> None:
    """The run's subject is what a person reads (the Message-ID stays the event's key and the
    thread's); two messages with the same subject and sender are two runs, even at once."""
    data = message("bare-question-mark.eml")
    again = data.replace(b"<20261120081500.7301@", b"<20261120081733.7302@")
    started = [receive(helpdesk.engine, helpdesk.store, mail)["started"] for mail in (data, again)]
    assert [len(runs) for runs in started] == [1, 1]
    helpdesk.engine.run_worker(until_idle=True)
    runs = [helpdesk.engine.get_run(ids[0]) for ids in started]
    assert {run["subject"] for run in runs} == {
        "Rechnung für November – wo bleibt sie? — Jörg Weber <joerg.weber@acme.test>"
    }
    assert [run["status"] for run in runs] == ["SUCCEEDED", "SUCCEEDED"]


def test_reply_with_token_in_body_then_in_plus_address_comments_on_the_ticket(
    helpdesk: Helpdesk,
) -> None:
    first = helpdesk.deliver("new-ticket.eml")["output"]
    helpdesk.give_token(first["ticketId"])

    body = helpdesk.deliver("reply-token-body.eml")
    assert body["status"] == "SUCCEEDED", body["error"]
    assert states(body) == [*HAPPY_NEW[:3], "EMAIL_PROCESSED"]
    assert (body["output"]["outcome"], body["output"]["matchedBy"]) == ("comment-added", "token")
    plus = helpdesk.deliver("reply-plus-address.eml")
    assert (plus["output"]["outcome"], plus["output"]["matchedBy"]) == ("comment-added", "token")

    assert [t["id"] for t in helpdesk.tickets()] == [first["ticketId"]]
    comments = helpdesk.ticket(first["ticketId"])["comments"]
    assert [c["body"] for c in comments[1:]] == [
        "Danke, nach dem Neustart geht es wieder!",  # the quoted notification is gone
        "The portal is slow again since 8:00, same users as yesterday.",
    ]


def test_reply_found_only_by_in_reply_to_and_references(helpdesk: Helpdesk) -> None:
    first = helpdesk.deliver("new-ticket.eml")["output"]
    run = helpdesk.deliver("reply-thread-only.eml")

    assert (run["output"]["outcome"], run["output"]["matchedBy"]) == ("comment-added", "thread")
    assert run["output"]["ticketId"] == first["ticketId"]
    last = helpdesk.ticket(first["ticketId"])["comments"][-1]
    assert last["authorEmail"] == "carl.berger@acme.test"  # a colleague: a new contact
    assert last["body"] == "Bei mir tritt der Fehler auch auf, Rechner MUC-17."
    assert run["output"]["contactCreated"] is True


def test_unknown_sender_gets_a_contact_and_the_defaults_client(helpdesk: Helpdesk) -> None:
    helpdesk.store.add_client("default", "Acme GmbH", "acme.test")
    run = helpdesk.deliver("unknown-sender.eml")

    assert run["output"]["outcome"] == "ticket-created" and run["output"]["contactCreated"]
    ticket = helpdesk.ticket(run["output"]["ticketId"])
    assert ticket["contact"] == {
        "id": ticket["contactId"],
        "email": "bob@stranger.example.net",
        "name": "Bob Stranger",
    }
    assert ticket["clientId"] is None  # no client has the domain; the defaults name none


def test_html_only_message_becomes_a_text_comment(helpdesk: Helpdesk) -> None:
    run = helpdesk.deliver("html-only.eml")

    assert run["state"]["vars"]["email"]["htmlOnly"] is True
    ticket = helpdesk.ticket(run["output"]["ticketId"])
    assert ticket["subject"] == "Imprimante en panne à l'étage"
    assert "• Modèle : LaserJet 4000" in ticket["comments"][0]["body"]
    assert "<" not in ticket["comments"][0]["body"]


def test_attachments_and_inline_image_are_stored_on_disk(helpdesk: Helpdesk) -> None:
    run = helpdesk.deliver("attachments.eml")

    assert run["status"] == "SUCCEEDED", run["error"]
    assert "PROCESSING_ATTACHMENTS" in states(run) and run["output"]["attachments"] == 2
    ticket = helpdesk.ticket(run["output"]["ticketId"])
    image, pdf = ticket["attachments"]
    assert (image["filename"], image["contentType"], image["size"], image["inline"]) == (
        "screenshot.png",
        "image/png",
        69,
        True,
    )
    assert image["contentId"] == "screenshot.4242@acme.test"
    assert (pdf["filename"], pdf["contentType"], pdf["size"], pdf["inline"]) == (
        "Rechnung N° 11.pdf",
        "application/pdf",
        125,
        False,
    )
    for stored in (image, pdf):
        path = Path(stored["path"])
        assert path.is_relative_to(helpdesk.attachments_dir.absolute())
        assert path.stat().st_size == stored["size"]
        assert stored["commentId"] == ticket["comments"][0]["id"]
    assert Path(pdf["path"]).read_bytes().startswith(b"%PDF-1.4")


def test_malformed_message_waits_for_a_person_who_creates_the_ticket(helpdesk: Helpdesk) -> None:
    run = helpdesk.deliver("malformed.eml")

    assert run["status"] == "WAITING"
    assert states(run) == [
        "PROCESSING_INBOUND_EMAIL",
        "ERROR_PROCESSING_EMAIL",
        "AWAITING_MANUAL_RESOLUTION",
    ]
    [task] = helpdesk.engine.list_tasks()
    assert task["runId"] == run["runId"] and task["stepId"] == "manual-resolution"
    assert task["description"].startswith("ERROR_PROCESSING_EMAIL: malformed email: ")
    assert helpdesk.tickets() == []

    helpdesk.engine.complete_task(
        task["taskId"],
        {"decision": "create-ticket", "subject": "Broken mail", "senderEmail": "it@acme.test"},
    )
    helpdesk.engine.run_worker(until_idle=True)
    done = helpdesk.engine.get_run(run["runId"], history=True)
    assert done["status"] == "SUCCEEDED", done["error"]
    assert states(done)[-1] == "EMAIL_PROCESSED"
    assert done["output"]["resolvedBy"] == "person"
    ticket = helpdesk.ticket(done["output"]["ticketId"])
    assert (ticket["subject"], ticket["contact"]["email"]) == ("Broken mail", "it@acme.test")
    assert "where did my boundary go" in ticket["comments"][0]["body"]


def test_a_person_can_discard_the_email(helpdesk: Helpdesk) -> None:
    run = helpdesk.deliver("malformed.eml")
    [task] = helpdesk.engine.list_tasks()
    helpdesk.engine.complete_task(task["taskId"], {"decision": "discard", "note": "spam"})
    helpdesk.engine.run_worker(until_idle=True)

    done = helpdesk.engine.get_run(run["runId"])
    assert done["status"] == "SUCCEEDED"
    assert done["output"]["outcome"] == "discarded" and done["output"]["note"] == "spam"
    assert helpdesk.tickets() == []


def test_a_ticket_that_does_not_exist_brings_the_person_back_with_the_reason(
    helpdesk: Helpdesk,
) -> None:
    run = helpdesk.deliver("malformed.eml")
    [first] = helpdesk.engine.list_tasks()
    missing = "tk_0000000000000000"
    helpdesk.engine.complete_task(
        first["taskId"], {"decision": "attach-to-ticket", "ticketId": missing}
    )
    helpdesk.engine.run_worker(until_idle=True)

    again = helpdesk.engine.get_run(run["runId"], history=True)
    assert again["status"] == "WAITING", again["error"]
    assert states(again)[-2:] == ["AWAITING_MANUAL_RESOLUTION", "AWAITING_MANUAL_RESOLUTION"]
    [second] = helpdesk.engine.list_tasks()
    assert second["taskId"] != first["taskId"] and second["stepId"] == "manual-resolution"
    assert second["title"].startswith("Decide again - Inbound email needs a person")
    assert second["description"].startswith(
        f"YOUR LAST DECISION COULD NOT BE APPLIED: there is no ticket {missing!r} to attach "
        "the email to: give the id of an existing ticket, or create a ticket instead\n\n"
        "ERROR_PROCESSING_EMAIL: malformed email: "
    )
    assert helpdesk.tickets() == []

    helpdesk.engine.complete_task(
        second["taskId"], {"decision": "create-ticket", "subject": "Broken mail"}
    )
    helpdesk.engine.run_worker(until_idle=True)
    done = helpdesk.engine.get_run(run["runId"])
    assert done["status"] == "SUCCEEDED", done["error"]
    assert done["output"]["outcome"] == "ticket-created" and done["output"]["attempts"] == 2
    assert helpdesk.ticket(done["output"]["ticketId"])["subject"] == "Broken mail"


def test_a_malformed_ticket_id_is_refused_by_the_form(helpdesk: Helpdesk) -> None:
    run = helpdesk.deliver("malformed.eml")
    [task] = helpdesk.engine.list_tasks()
    with pytest.raises(TaskDataInvalid) as refused:
        helpdesk.engine.complete_task(
            task["taskId"], {"decision": "attach-to-ticket", "ticketId": "ticket 42"}
        )
    assert refused.value.details[0]["path"] == "/ticketId"
    assert [t["taskId"] for t in helpdesk.engine.list_tasks()] == [task["taskId"]]  # still open
    assert helpdesk.engine.get_run(run["runId"])["status"] == "WAITING"


def test_ten_decisions_that_cannot_be_applied_fail_the_run_with_the_last_reason(
    helpdesk: Helpdesk,
) -> None:
    run = helpdesk.deliver("malformed.eml")
    for attempt in range(10):
        [task] = helpdesk.engine.list_tasks()
        ticket = f"tk_{attempt:016x}"
        helpdesk.engine.complete_task(
            task["taskId"], {"decision": "attach-to-ticket", "ticketId": ticket}
        )
        helpdesk.engine.run_worker(until_idle=True)

    failed = helpdesk.engine.get_run(run["runId"])
    assert failed["status"] == "FAILED"
    assert failed["error"]["message"].startswith(
        "no decision of the 10 asked for could be applied; the last one: there is no ticket "
        f"'tk_{9:016x}'"
    )
    assert helpdesk.engine.list_tasks() == []


def test_no_ticket_defaults_then_a_person_attaches_the_email(helpdesk: Helpdesk) -> None:
    first = helpdesk.deliver("new-ticket.eml")["output"]
    helpdesk.store.clear_defaults("default")
    run = helpdesk.deliver("unknown-sender.eml")

    assert run["status"] == "WAITING"
    assert states(run)[-3:] == [
        "RESOLVING_TICKET_DEFAULTS",
        "ERROR_NO_TICKET_DEFAULTS",
        "AWAITING_MANUAL_RESOLUTION",
    ]
    assert run["state"]["vars"]["error"]["data"]["code"] == "ERROR_NO_TICKET_DEFAULTS"
    [task] = helpdesk.engine.list_tasks()
    assert task["description"].startswith("ERROR_NO_TICKET_DEFAULTS: no ticket defaults for")
    helpdesk.engine.complete_task(
        task["taskId"], {"decision": "attach-to-ticket", "ticketId": first["ticketId"]}
    )
    helpdesk.engine.run_worker(until_idle=True)

    done = helpdesk.engine.get_run(run["runId"])
    assert done["output"]["outcome"] == "comment-added"
    bodies = [c["body"] for c in helpdesk.ticket(first["ticketId"])["comments"]]
    assert bodies[-1] == "Hi,\n\ndo you offer a discount for non-profits?"


def test_the_same_message_twice_makes_one_ticket_and_one_comment(helpdesk: Helpdesk) -> None:
    run = helpdesk.deliver("attachments.eml")

    again = receive(helpdesk.engine, helpdesk.store, message("attachments.eml"))
    assert again["duplicate"] and again["started"] == [run["runId"]]  # the first one's runs
    assert not again["stored"]  # the same bytes: kept once
    # delivered again under another event id (another mail server's retry): a second run,
    # whose writes find the Message-ID already handled
    event = email_event(again["ref"], message("attachments.eml"))
    other = helpdesk.engine.send_event(event["name"], event["key"], event["payload"])
    helpdesk.engine.run_worker(until_idle=True)
    [second_id] = other.started
    second = helpdesk.engine.get_run(second_id)

    assert second["status"] == "SUCCEEDED", second["error"]
    assert second["output"]["ticketId"] == run["output"]["ticketId"]
    assert second["output"]["duplicate"] is True and second["output"]["attachments"] == 2
    assert helpdesk.store.counts("default") == {
        "contacts": 1,
        "tickets": 1,
        "comments": 1,
        "attachments": 2,
        "ticket_messages": 1,
        "inbound": 1,
    }


def test_the_same_reply_twice_makes_one_comment(helpdesk: Helpdesk) -> None:
    first = helpdesk.deliver("new-ticket.eml")["output"]
    helpdesk.deliver("reply-thread-only.eml")
    data = message("reply-thread-only.eml")
    event = email_event(receive(helpdesk.engine, helpdesk.store, data)["ref"], data)
    helpdesk.engine.send_event(event["name"], event["key"], event["payload"])
    helpdesk.engine.run_worker(until_idle=True)

    assert len(helpdesk.ticket(first["ticketId"])["comments"]) == 2
