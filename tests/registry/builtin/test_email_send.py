"""email.send@1 against a real SMTP server (aiosmtpd) on 127.0.0.1, which the address policy
refuses unless allowed: these tests allow loopback (``allow_loopback``) unless they say
otherwise. Refused addresses are refused before any connection is attempted."""

from __future__ import annotations

from typing import Any

import pytest
from tls_certs import make_cert

from flowpin.registry import Registry
from flowpin.registry.actions import ActionContext, action_spec
from flowpin.registry.builtin.email_send import configure_email_send, email_send, render_template
from flowpin.registry.errors import ActionError, TargetUnreachable

SPEC = action_spec(email_send)
assert SPEC is not None
pytestmark = pytest.mark.usefixtures("allow_loopback")


def call(data: dict[str, Any], key: str = "run1-notify-0") -> dict[str, Any]:
    ctx = ActionContext(
        run_id="r", step_id="notify", workflow_key="w", version=1, attempt=1, idempotency_key=key
    )
    return SPEC.validate_output(SPEC.call(SPEC.validate_input(data), ctx))


def message(server: Any, **extra: Any) -> dict[str, Any]:
    return {
        "smtp": server.config(),
        "from": "Support <support@example.test>",
        "replyTo": "help@example.test",
        "to": ["Ann <ann@example.test>"],
        "cc": ["cc@example.test"],
        "bcc": ["audit@example.test"],
        "subject": "Ticket {{ ticket.id }}: {{ ticket.subject }}",
        "textBody": "Hello {{ contact.name }},\nwe got: {{ ticket.subject }}\n",
        "htmlBody": "<p>Hello {{ contact.name }}</p><p>{{ ticket.subject }}</p>",
        "context": {"contact": {"name": "Ann"}, "ticket": {"id": 42, "subject": "<b>help</b>"}},
        **extra,
    }


def test_registered_as_a_builtin() -> None:
    spec = Registry().action("email.send", 1)
    assert spec is SPEC and not spec.is_async and spec.effect == "side_effect"
    schema = spec.input_json_schema()
    assert schema["required"] == ["smtp", "from", "to", "subject"]
    assert {"replyTo", "textBody", "htmlBody", "context"} <= set(schema["properties"])
    assert set(spec.output_json_schema()["properties"]) == {"messageId", "accepted", "rejected"}


def test_sends_a_rendered_multipart_message(smtp_server) -> None:
    out = call(message(smtp_server))
    assert out == {
        "messageId": "<run1-notify-0@flowpin>",
        "accepted": ["ann@example.test", "cc@example.test", "audit@example.test"],
        "rejected": [],
    }
    [envelope] = smtp_server.envelopes
    assert envelope.mail_from == "support@example.test"
    assert envelope.rcpt_tos == ["ann@example.test", "cc@example.test", "audit@example.test"]
    [received] = smtp_server.messages
    assert received["Message-ID"] == "<run1-notify-0@flowpin>"
    assert received["X-Flowpin-Idempotency-Key"] == "run1-notify-0"
    assert received["Subject"] == "Ticket 42: <b>help</b>"
    assert received["From"] == "Support <support@example.test>"
    assert received["To"] == "Ann <ann@example.test>"
    assert received["Cc"] == "cc@example.test"
    assert received["Reply-To"] == "help@example.test"
    assert received["Bcc"] is None  # blind copies stay blind
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(preferencelist=("plain",)).get_content()
    html = received.get_body(preferencelist=("html",)).get_content()
    assert text == "Hello Ann,\nwe got: <b>help</b>\n"
    assert html.strip() == "<p>Hello Ann</p><p>&lt;b&gt;help&lt;/b&gt;</p>"  # autoescaped


def test_the_same_key_gives_the_same_message_id(smtp_server) -> None:
    first = call(message(smtp_server, htmlBody=None), key="k-1")
    again = call(message(smtp_server, htmlBody=None), key="k-1")
    odd = call(message(smtp_server, htmlBody=None), key="run 1/step@x")
    assert first["messageId"] == again["messageId"] == "<k-1@flowpin>"
    assert odd["messageId"].startswith("<") and odd["messageId"].endswith("@flowpin>")
    assert " " not in odd["messageId"] and odd["messageId"].count("@") == 1
    assert [m["Message-ID"] for m in smtp_server.messages] == [
        "<k-1@flowpin>",
        "<k-1@flowpin>",
        odd["messageId"],
    ]
    assert smtp_server.messages[2]["X-Flowpin-Idempotency-Key"] == "run 1/step@x"
    assert smtp_server.messages[0].get_content_type() == "text/plain"


def test_html_only_and_extra_headers(smtp_server) -> None:
    call(
        message(
            smtp_server,
            textBody=None,
            headers={"X-Campaign": "spring"},
            messageIdDomain="mail.example.test",
        ),
        key="abc",
    )
    [received] = smtp_server.messages
    assert received.get_content_type() == "text/html"
    assert received["X-Campaign"] == "spring"
    assert received["Message-ID"] == "<abc@mail.example.test>"


def test_undefined_template_variable_is_a_clear_error(smtp_server) -> None:
    data = message(smtp_server, htmlBody="<p>Hi</p>\n<p>{{ contact.nmae }}</p>")
    with pytest.raises(ActionError) as undefined:
        call(data)
    assert undefined.value.message == (
        "email.send: htmlBody line 2: 'dict object' has no attribute 'nmae'"
    )
    assert not undefined.value.retryable
    assert undefined.value.data == {"reason": "template", "field": "htmlBody", "line": 2}
    with pytest.raises(ActionError, match=r"subject line 1: 'order' is undefined"):
        call(message(smtp_server, subject="Order {{ order.id }}"))
    with pytest.raises(ActionError, match="textBody line 1: template syntax error"):
        call(message(smtp_server, textBody="{% if %}"))
    assert smtp_server.messages == []  # nothing sent


def test_templates_are_sandboxed() -> None:
    def render(source: str) -> str:
        return render_template(source, {"x": "a"}, html=False, field="textBody")

    assert render("{{ x * 3 }}") == "aaa"
    with pytest.raises(ActionError, match="textBody"):
        render("{{ x.__class__.__mro__ }}")
    with pytest.raises(ActionError, match="textBody"):
        render("{{ ''.__class__.__subclasses__() }}")
    with pytest.raises(ActionError, match="may not build"):
        render("{{ x * 1000000000 }}")
    with pytest.raises(ActionError, match="exponent"):
        render("{{ 10 ** 100000000 }}")
    with pytest.raises(ActionError, match="textBody"):
        render("{% set l = [1] %}{{ l.append(2) }}")  # the context cannot be mutated


def test_smtp_credentials_and_refusals(smtp_factory) -> None:
    server = smtp_factory(
        credentials=("mailer", "pw-1"),
        reject=lambda address: (
            "550 no such user"
            if address.startswith("gone")
            else "451 try later"
            if address.startswith("busy")
            else None
        ),
    )
    config = server.config(username="mailer", password="pw-1")
    out = call(message(server, smtp=config, to=["ann@example.test", "gone@example.test"]))
    assert out["accepted"] == ["ann@example.test", "cc@example.test", "audit@example.test"]
    assert out["rejected"] == ["gone@example.test"]
    assert server.logins == [("mailer", "pw-1")]

    only = {"cc": [], "bcc": []}
    with pytest.raises(ActionError, match="refused every recipient") as permanent:
        call(message(server, smtp=config, to=["gone@example.test"], **only))
    assert not permanent.value.retryable
    with pytest.raises(ActionError, match="refused every recipient") as temporary:
        call(message(server, smtp=config, to=["busy@example.test"], **only))
    assert temporary.value.retryable

    with pytest.raises(ActionError, match="535") as bad_login:
        call(message(server, smtp=server.config(username="mailer", password="wrong")))
    assert not bad_login.value.retryable


def test_starttls_is_required_by_default(smtp_server) -> None:
    config = {"host": smtp_server.host, "port": smtp_server.port}  # security: starttls
    with pytest.raises(ActionError, match="does not offer STARTTLS") as refused:
        call(message(smtp_server, smtp=config))
    assert not refused.value.retryable
    assert smtp_server.messages == []


def test_connection_errors_are_retryable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "timeoutMs": 2000}
    data = message(type("S", (), {"config": lambda self: smtp})())
    with pytest.raises(TargetUnreachable, match=rf"cannot reach 127\.0\.0\.1:{port}") as failed:
        call(data)
    assert failed.value.retryable and failed.value.data["reason"] == "unreachable"


def _to(host: str, port: int) -> dict[str, Any]:
    smtp = {"host": host, "port": port, "security": "none", "timeoutMs": 2000}
    return message(type("S", (), {"config": lambda self: smtp})())


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("127.0.0.1", 5432),  # the database next door
        ("169.254.169.254", 80),  # cloud metadata
        ("10.0.0.1", 25),
        ("192.168.1.1", 587),
        ("::1", 25),
        ("::ffff:127.0.0.1", 25),
        ("localhost", 25),  # resolved, then checked
        ("0.0.0.0", 25),
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused(host, port, no_allow) -> None:
    with pytest.raises(TargetUnreachable) as refused:
        call(_to(host, port))
    assert refused.value.retryable and "FLOWPIN_SMTP_ALLOW" in refused.value.message
    assert refused.value.data == {"reason": "unreachable", "host": host, "port": port}


def test_the_env_allow_list_lets_a_loopback_server_in(smtp_server, monkeypatch, no_allow) -> None:
    with pytest.raises(TargetUnreachable):
        call(message(smtp_server))
    assert smtp_server.messages == []
    monkeypatch.setenv("FLOWPIN_SMTP_ALLOW", "10.0.0.0/8, 127.0.0.1")
    assert call(message(smtp_server))["accepted"][0] == "ann@example.test"
    assert len(smtp_server.messages) == 1
    monkeypatch.setenv("FLOWPIN_SMTP_ALLOW", "nonsense")
    with pytest.raises(ActionError, match="not an IP address or network"):
        call(message(smtp_server))


def test_the_name_is_resolved_once_and_the_connection_pinned(smtp_server) -> None:
    answers = {
        "mail.example.test": [["10.0.0.1", "127.0.0.1"]],  # only the allowed one is used
        "rebind.example.test": [["127.0.0.1"], ["169.254.169.254"]],
        "private.example.test": [["10.0.0.1", "169.254.169.254"]],
    }
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[host].pop(0)

    previous = configure_email_send(resolver=resolver)
    try:
        for host in ("mail.example.test", "rebind.example.test"):
            smtp = {**smtp_server.config(), "host": host}
            assert call(message(smtp_server, smtp=smtp))["accepted"][0] == "ann@example.test"
        with pytest.raises(TargetUnreachable, match=r"private\.example\.test:25"):
            call(
                message(
                    smtp_server,
                    smtp={**smtp_server.config(), "host": "private.example.test", "port": 25},
                )
            )
    finally:
        configure_email_send(previous)
    assert asked == ["mail.example.test", "rebind.example.test", "private.example.test"]
    assert len(smtp_server.messages) == 2


def test_implicit_tls_is_pinned_and_checks_the_host_name(
    smtp_factory, tmp_path, monkeypatch
) -> None:
    """``security: tls`` connects to the checked address, yet TLS names the host: the
    certificate, made for the name only, verifies."""
    import ssl

    cert, key = make_cert(tmp_path, "DNS:mail.example.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = smtp_factory(ssl_context=context)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    previous = configure_email_send(
        resolver=lambda host, port: {"mail.example.test": ["127.0.0.1"]}[host]
    )
    try:
        config = {
            "host": "mail.example.test",
            "port": server.port,
            "security": "tls",
            "timeoutMs": 5000,
        }
        assert call(message(server, smtp=config))["accepted"][0] == "ann@example.test"
        with pytest.raises(ActionError, match="TLS with 127") as by_ip:  # the cert names no IP
            call(message(server, smtp={**config, "host": "127.0.0.1"}))
        assert not by_ip.value.retryable
    finally:
        configure_email_send(previous)
    assert len(server.messages) == 1


def test_input_validation() -> None:
    smtp = {"host": "127.0.0.1", "security": "none"}
    base = {"smtp": smtp, "from": "a@example.test", "to": ["b@example.test"], "subject": "s"}
    with pytest.raises(Exception, match="textBody, htmlBody or both"):
        SPEC.validate_input(base)
    with pytest.raises(Exception, match="line break"):
        SPEC.validate_input({**base, "textBody": "x", "to": ["b@example.test\r\nBcc: x@y"]})
    with pytest.raises(Exception, match=r"set by email\.send itself"):
        SPEC.validate_input({**base, "textBody": "x", "headers": {"Message-ID": "<x@y>"}})
    with pytest.raises(Exception, match="not one email address"):
        SPEC.validate_input({**base, "textBody": "x", "to": ["nobody"]})
    parsed = SPEC.validate_input({**base, "textBody": "x", "replyTo": "r@example.test"})
    assert parsed.reply_to == ["r@example.test"]


def test_starttls_with_a_verified_certificate(smtp_factory, tmp_path, monkeypatch) -> None:
    import ssl

    cert, key = make_cert(tmp_path, "IP:127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = smtp_factory(tls_context=context, require_starttls=True)
    config = {"host": server.host, "port": server.port, "timeoutMs": 5000}  # starttls
    with pytest.raises(ActionError, match="TLS with 127") as unverified:  # unknown issuer
        call(message(server, smtp=config))
    assert not unverified.value.retryable
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate
    out = call(message(server, smtp=config))
    assert out["accepted"][0] == "ann@example.test"
    [received] = server.messages
    assert received["Message-ID"] == "<run1-notify-0@flowpin>"
    # without STARTTLS the server refuses the mail (530), which is not worth retrying
    with pytest.raises(ActionError, match="530") as plain:
        call(message(server, smtp={**config, "security": "none"}))
    assert not plain.value.retryable
