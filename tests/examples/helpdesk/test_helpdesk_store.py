"""The natural keys behind the helpdesk's idempotency hold under concurrency: the same message
handled by two workers at once still makes one ticket, one comment, one contact."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from helpdesk_kit import Helpdesk

DEFAULTS = {"board": "Support", "status": "new", "priority": "normal"}


def at_once(count: int, work: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait(10)
        results[index] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_one_ticket_per_message_id_even_at_once(helpdesk: Helpdesk) -> None:
    store = helpdesk.store
    posted = at_once(
        4,
        lambda: store.create_ticket(
            "default",
            message_id="<same@x.test>",
            subject="Printer",
            defaults=DEFAULTS,
            contact_id=None,
            client_id=None,
            author_email="a@x.test",
            body="hi",
            full_text="hi",
        ),
    )
    assert len({p.ticket_id for p in posted}) == 1
    assert sorted(p.created for p in posted) == [False, False, False, True]
    comments = at_once(
        3,
        lambda: store.add_comment(
            "default",
            posted[0].ticket_id,
            message_id="<reply@x.test>",
            contact_id=None,
            author_email="a@x.test",
            body="thanks",
            full_text=None,
        ),
    )
    assert len({c.comment_id for c in comments}) == 1
    assert store.counts("default")["comments"] == 2
    assert store.counts("other-tenant")["tickets"] == 0  # tenants do not share rows


def test_one_contact_per_address_even_at_once(helpdesk: Helpdesk) -> None:
    client = helpdesk.store.add_client("default", "X Corp", "x.test")
    found = at_once(
        3, lambda: helpdesk.store.find_or_create_contact("default", "Ann@X.test", "Ann")
    )
    assert len({contact["contactId"] for contact, _ in found}) == 1
    assert sorted(created for _, created in found) == [False, False, True]
    assert found[0][0]["clientId"] == client and found[0][0]["email"] == "ann@x.test"


def test_defaults_by_mailbox_then_catch_all(helpdesk: Helpdesk) -> None:
    store = helpdesk.store
    store.set_defaults("default", mailbox="billing@helpdesk.test", board="Billing")
    assert store.defaults_for("default", ["billing@helpdesk.test"])["board"] == "Billing"
    assert store.defaults_for("default", ["support@helpdesk.test"])["board"] == "Support"
    assert not store.set_defaults("default", board="Other", only_if_none=True)
    store.clear_defaults("default")
    assert store.defaults_for("default", ["support@helpdesk.test"]) is None


def test_install_is_idempotent_and_refuses_unbound_declarations(helpdesk: Helpdesk) -> None:
    from examples.helpdesk import HelpdeskSettings, install
    from flowpin.engine import Engine
    from flowpin.errors import RegistryError
    from flowpin.registry import Registry

    settings = HelpdeskSettings(attachments_dir=helpdesk.attachments_dir)
    install(helpdesk.engine, settings)  # again: same tables, same version, same defaults
    assert [v["version"] for v in helpdesk.engine.versions("email-to-ticket")] == [1]
    registry = Registry()
    registry.load_module("examples.helpdesk.actions")
    with (
        Engine(helpdesk.engine.db.url, registry=registry) as other,
        pytest.raises(RegistryError, match="registered unbound"),
    ):
        install(other, settings)
