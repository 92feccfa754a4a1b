"""``email.send@1``: the built-in email action, over SMTP, with sandboxed Jinja2 templates.

Input (``inputMapping`` of an ``action.call`` step)::

    {"smtp": {"host": "smtp.example.com",
              "port": 587,                     # default 587
              "security": "starttls",          # starttls (default, required) | tls | none
              "username": "mailer",
              "password": {"$secret": "SMTP_PASSWORD"},
              "timeoutMs": 30000,
              "verifyTls": true},              # false: do not check the server's certificate
     "from": "Support <support@example.com>",
     "replyTo": ["help@example.com"],          # a string or a list
     "to": [{"$expr": "payload.contact.email"}],
     "cc": [], "bcc": [],
     "subject": "Your ticket {{ ticket.id }}",                 # templates
     "textBody": "Hello {{ contact.name }},\\n…",
     "htmlBody": "<p>Hello {{ contact.name }}</p>",
     "context": {"$expr": "{'ticket': vars.ticket, 'contact': payload.contact}"},
     "headers": {"X-Campaign": "spring"},
     "messageIdDomain": "flowpin"}

Addresses (``from``, ``replyTo``, ``to``, ``cc``, ``bcc``) are values like any other (map them
with ``$expr``); ``subject``, ``textBody`` and ``htmlBody`` are Jinja2 templates rendered over
``context`` only. The template text lives in the step's config, so it is frozen with the
published version; ``context`` is the part of the run state the step chooses to expose. At
least one of ``textBody`` and ``htmlBody`` is required; with both, the message is
``multipart/alternative``.

Templates run in Jinja2's ``ImmutableSandboxedEnvironment`` (no attribute access to Python
internals, no mutation of the context) with ``StrictUndefined``: a variable missing from
``context`` fails the step with a non-retryable ``ActionError`` naming the field and the line
(``htmlBody line 3: 'contact' is undefined``). HTML bodies are autoescaped. Rendering is
bounded: ``*`` and ``**`` cannot build huge strings, lists or numbers, and each rendered part is
capped at 1 MiB.

The idempotency key (SPEC §4.5) names the message: ``Message-ID: <KEY@messageIdDomain>`` (a key
that is not a valid message-id atom is replaced by its SHA-256) and
``X-Flowpin-Idempotency-Key: KEY``, so every retry of the call sends the same Message-ID and a
receiving system (or a person) can recognise the duplicate.

Output: ``{"messageId": "<…@flowpin>", "accepted": [addresses], "rejected": [addresses]}``.

**Address policy.** The connection goes through ``flowpin.security.address_policy``, like
``http.request``'s: ``smtp.host`` is resolved once, only global addresses or those in
``FLOWPIN_SMTP_ALLOW`` (comma-separated addresses or CIDR networks, e.g. ``127.0.0.1`` for a
local relay; or ``configure_email_send(allow=[...])``) are used, smtplib talks over a socket
connected to the checked address (TLS still checks the certificate against ``smtp.host``), and
a refused address, a name that does not resolve, a closed port and one that does not answer
fail with the same retryable ``TargetUnreachable`` (``data.reason`` ``"unreachable"``); the
server log says which it was.

Failures: an unreachable server, timeouts, a dropped connection and SMTP 4xx replies are
retryable ActionErrors (``data.smtpCode`` when there is a reply); 5xx replies (bad credentials,
refused sender, all recipients refused), a server without STARTTLS when it is required, TLS
errors, template errors and malformed headers are not.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from functools import lru_cache
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowpin.registry.actions import ActionContext, action
from flowpin.registry.errors import ActionError, TargetUnreachable
from flowpin.security.address_policy import AddressPolicy, AllowListInvalid, Resolver, Unreachable

__all__ = [
    "ALLOW_ENV",
    "EmailSendInput",
    "EmailSent",
    "SmtpConfig",
    "configure_email_send",
    "email_send",
    "render_template",
]

ALLOW_ENV = "FLOWPIN_SMTP_ALLOW"
_policy = AddressPolicy("email.send", ALLOW_ENV)


def configure_email_send(
    address_policy: AddressPolicy | None = None,
    *,
    allow: Iterable[str] | None = None,
    resolver: Resolver | None = None,
) -> AddressPolicy:
    """Set the process-wide address policy of ``email.send`` (``allow``: addresses or CIDR
    networks added to ``FLOWPIN_SMTP_ALLOW``; ``resolver``: a synchronous ``(host, port) ->
    addresses``); returns the previous one (pass it back to restore)."""
    global _policy
    previous = _policy
    _policy = (address_policy or previous).configured(allow=allow, resolver=resolver)
    return previous


MAX_RENDERED_CHARS = 1_048_576
MAX_REPEAT = 100_000
"""The largest string/list a template may build with ``*``."""
MAX_EXPONENT = 1_000

_RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "message-id",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "x-flowpin-idempotency-key",
    }
)
_POLICY = policy.SMTP.clone(max_line_length=998)
"""Headers are not folded below RFC 5322's limit: a Message-ID from a 64-character key stays on
one line (folding it made some parsers keep the leading space)."""
_ATOM = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,200}$")
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SmtpConfig(_Model):
    """How to reach the SMTP server."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    timeout_ms: int = Field(30_000, alias="timeoutMs", ge=1, le=600_000)
    verify_tls: bool = Field(True, alias="verifyTls")


class EmailSendInput(_Model):
    """Input of ``email.send@1``."""

    smtp: SmtpConfig
    sender: str = Field(alias="from", min_length=3, max_length=998)
    reply_to: list[str] = Field(default_factory=list, alias="replyTo")
    to: list[str] = Field(min_length=1, max_length=1000)
    cc: list[str] = Field(default_factory=list, max_length=1000)
    bcc: list[str] = Field(default_factory=list, max_length=1000)
    subject: str = Field(max_length=10_000)
    text_body: str | None = Field(None, alias="textBody")
    html_body: str | None = Field(None, alias="htmlBody")
    context: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    message_id_domain: str = Field(
        "flowpin", alias="messageIdDomain", pattern=r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,250})$"
    )

    @field_validator("reply_to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("sender", "reply_to", "to", "cc", "bcc")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        for item in [value] if isinstance(value, str) else value:
            if "\r" in item or "\n" in item:
                raise ValueError("an address may not contain a line break")
            parsed = getaddresses([item])
            if len(parsed) != 1 or "@" not in parsed[0][1]:
                raise ValueError(f"{item!r} is not one email address")
        return value

    @field_validator("headers")
    @classmethod
    def _extra_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS or name.lower().startswith("content-"):
                raise ValueError(f"header {name!r} is set by email.send itself")
            if "\r" in text or "\n" in text:
                raise ValueError(f"header {name!r} may not contain a line break")
        return value

    @model_validator(mode="after")
    def _a_body(self) -> EmailSendInput:
        if self.text_body is None and self.html_body is None:
            raise ValueError("give textBody, htmlBody or both")
        return self


class EmailSent(BaseModel):
    """Output of ``email.send@1``."""

    model_config = ConfigDict(populate_by_name=True)

    message_id: str = Field(alias="messageId")
    accepted: list[str]
    rejected: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------- templates


def _sandbox(autoescape: bool) -> Any:
    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Bounded(ImmutableSandboxedEnvironment):
        """Refuses ``'x' * 10**9`` and ``10 ** 10**9`` instead of exhausting memory or CPU."""

        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, count in ((left, right), (right, left)):
                    if (
                        isinstance(seq, str | list | tuple)
                        and isinstance(count, int)
                        and len(seq) * count > MAX_REPEAT
                    ):
                        raise SecurityError(f"a template may not build more than {MAX_REPEAT}")
            if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent larger than {MAX_EXPONENT}")
            return super().call_binop(context, operator, left, right)

    return _Bounded(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True)


@lru_cache(maxsize=2)
def _environment(autoescape: bool) -> Any:
    return _sandbox(autoescape)


@lru_cache(maxsize=512)
def _compile(source: str, autoescape: bool) -> Any:
    return _environment(autoescape).from_string(source)


def render_template(source: str, context: dict[str, Any], *, html: bool, field: str) -> str:
    """Render one template of the step's config; raises a non-retryable ActionError naming
    ``field`` (and the line) for a syntax error, an undefined variable or a sandbox refusal."""
    from jinja2 import TemplateError, TemplateSyntaxError

    try:
        template = _compile(source, html)
        parts: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise ActionError(
                    f"email.send: {field} renders to more than {MAX_RENDERED_CHARS} characters",
                    data={"reason": "template", "field": field},
                )
            parts.append(chunk)
        return "".join(parts)
    except TemplateSyntaxError as exc:
        raise ActionError(
            f"email.send: {field} line {exc.lineno}: template syntax error: {exc.message}",
            data={"reason": "template", "field": field, "line": exc.lineno},
        ) from None
    except TemplateError as exc:
        line = _template_line(exc.__traceback__)
        where = f"{field} line {line}" if line else field
        raise ActionError(
            f"email.send: {where}: {exc.message or type(exc).__name__}",
            data={"reason": "template", "field": field, "line": line},
        ) from None
    except (ArithmeticError, TypeError, ValueError, LookupError) as exc:
        line = _template_line(exc.__traceback__)
        where = f"{field} line {line}" if line else field
        raise ActionError(
            f"email.send: {where}: {type(exc).__name__}: {exc}",
            data={"reason": "template", "field": field, "line": line},
        ) from None


def _template_line(tb: TracebackType | None) -> int | None:
    """The template line of the innermost template frame (Jinja2 rewrites tracebacks so that
    template frames carry template line numbers)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# --------------------------------------------------------------------------- the action


@action(
    "email.send",
    version=1,
    effect="side_effect",
    description="Send an email over SMTP, rendered from sandboxed Jinja2 templates.",
)
def email_send(data: EmailSendInput, ctx: ActionContext) -> EmailSent:
    """Send an email over SMTP, rendered from sandboxed Jinja2 templates."""
    subject = render_template(data.subject, data.context, html=False, field="subject")
    subject = " ".join(subject.split())  # a header: no line breaks
    text = (
        render_template(data.text_body, data.context, html=False, field="textBody")
        if data.text_body is not None
        else None
    )
    html = (
        render_template(data.html_body, data.context, html=True, field="htmlBody")
        if data.html_body is not None
        else None
    )
    message_id = _message_id(ctx.idempotency_key, data.message_id_domain)
    message = EmailMessage(policy=_POLICY)
    try:
        message["From"] = data.sender
        message["To"] = ", ".join(data.to)
        if data.cc:
            message["Cc"] = ", ".join(data.cc)
        if data.reply_to:
            message["Reply-To"] = ", ".join(data.reply_to)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = message_id
        message["X-Flowpin-Idempotency-Key"] = _one_line(ctx.idempotency_key)
        for name, value in data.headers.items():
            message[name] = value
        if text is not None:
            message.set_content(text)
            if html is not None:
                message.add_alternative(html, subtype="html")
        else:
            message.set_content(html or "", subtype="html")
    except (ValueError, TypeError) as exc:
        raise ActionError(f"email.send: cannot build the message: {exc}") from None

    sender = _addr_spec(data.sender)
    recipients = _unique(_addr_spec(a) for a in [*data.to, *data.cc, *data.bcc])
    refused = _deliver(data.smtp, message, sender, recipients)
    return EmailSent(
        message_id=message_id,
        accepted=[r for r in recipients if r not in refused],
        rejected=[r for r in recipients if r in refused],
    )


def _deliver(
    smtp: SmtpConfig, message: EmailMessage, sender: str, recipients: list[str]
) -> dict[str, Any]:
    """Send ``message``; the recipients the server refused (when it accepted some)."""
    timeout = smtp.timeout_ms / 1000
    context = _tls_context(smtp.verify_tls) if smtp.security != "none" else None
    where = f"{smtp.host}:{smtp.port}"
    try:
        sock = _policy.connect(smtp.host, smtp.port, timeout)
    except Unreachable as exc:
        raise TargetUnreachable(exc.message, retryable=True, data=exc.details) from None
    except AllowListInvalid as exc:
        raise ActionError(exc.message, data={"reason": "configuration"}) from None
    client: smtplib.SMTP
    if smtp.security == "tls":
        assert context is not None
        client = _PinnedSMTPSSL(sock, timeout=timeout, context=context)
    else:
        client = _PinnedSMTP(sock, timeout=timeout)
    try:
        with client:
            client.connect(smtp.host, smtp.port)
            client.ehlo()
            if smtp.security == "starttls":
                if not client.has_extn("starttls"):
                    raise ActionError(
                        f"email.send: {where} does not offer STARTTLS "
                        "(set smtp.security to 'tls' or, on a trusted network, 'none')",
                        data={"reason": "starttls_unavailable"},
                    )
                client.starttls(context=context)
                client.ehlo()
            if smtp.username is not None:
                client.login(smtp.username, smtp.password or "")
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
            return dict(refused)
    except ActionError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        retryable = bool(codes) and all(400 <= code < 500 for code in codes)
        raise ActionError(
            f"email.send: {where} refused every recipient "
            f"({', '.join(f'{a}: {c}' for a, (c, _) in exc.recipients.items())})",
            retryable=retryable,
            data={"reason": "recipients_refused", "smtpCodes": codes},
        ) from None
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode(errors="replace")
        raise ActionError(
            f"email.send: {where} answered {exc.smtp_code} {reply}",
            retryable=400 <= exc.smtp_code < 500,
            data={"reason": "smtp", "smtpCode": exc.smtp_code},
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise ActionError(f"email.send: {where}: {exc}", data={"reason": "smtp"}) from None
    except ssl.SSLError as exc:
        raise ActionError(
            f"email.send: TLS with {where} failed: {exc}", data={"reason": "tls"}
        ) from None
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPException, OSError) as exc:
        kind = "timed out" if isinstance(exc, socket.timeout | TimeoutError) else "failed"
        raise ActionError(
            f"email.send: connection to {where} {kind}: {type(exc).__name__}: {exc}",
            retryable=True,
            data={"reason": "connection"},
        ) from None


class _PinnedSMTP(smtplib.SMTP):
    """smtplib over a socket already connected to the address the policy checked (smtplib
    would resolve the name again)."""

    def __init__(self, sock: socket.socket, **kwargs: Any) -> None:
        self._pinned: socket.socket | None = sock
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock, self._pinned = self._pinned, None
        if sock is None:
            raise smtplib.SMTPServerDisconnected("the pinned connection was used already")
        self._host = host  # the name STARTTLS checks the certificate against
        return sock

    def close(self) -> None:
        super().close()
        if self._pinned is not None:  # never handed to smtplib
            self._pinned.close()
            self._pinned = None


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    """``_PinnedSMTP`` for implicit TLS: the pinned socket is wrapped with SNI and certificate
    checks for the host name."""

    def __init__(self, sock: socket.socket, **kwargs: Any) -> None:
        self._pinned: socket.socket | None = sock
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock, self._pinned = self._pinned, None
        if sock is None:
            raise smtplib.SMTPServerDisconnected("the pinned connection was used already")
        self._host = host
        try:
            return self.context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise

    def close(self) -> None:
        super().close()
        if self._pinned is not None:
            self._pinned.close()
            self._pinned = None


def _tls_context(verify: bool) -> ssl.SSLContext:
    """The system trust store; ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` are honoured (and read
    at call time)."""
    return _cached_tls_context(
        verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    )


@lru_cache(maxsize=8)
def _cached_tls_context(
    verify: bool, cert_file: str | None, cert_dir: str | None
) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _message_id(key: str, domain: str) -> str:
    local = key if _ATOM.match(key) and ".." not in key and not key.startswith(".") else None
    if local is None or local.endswith("."):
        local = hashlib.sha256(key.encode()).hexdigest()
    return f"<{local}@{domain}>"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _addr_spec(address: str) -> str:
    return getaddresses([address])[0][1]


def _unique(items: Any) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
