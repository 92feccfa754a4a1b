"""Reading one inbound RFC 5322 message: headers, the text a person wrote, the attachments.

Python's ``email`` package (``policy.default``) does the MIME work: encoded-word headers,
transfer encodings, charsets, multipart/alternative and multipart/related. On top of it:

- the body is the ``text/plain`` part, else the ``text/html`` part turned into text;
- the *reply* is the body without quoted history and signature (``mail-parser-reply``);
- a reply token (``HD-`` and ten letters or digits) is looked for in the plus-address of the
  recipients (``support+HD-7K2M9Q4X1B@…``), then in the subject and the whole body, quotes
  included: the customer usually quotes the notification that carried it;
- every other leaf part is an attachment (inline when its disposition says so, or it has a
  ``Content-ID`` and no disposition: an image the HTML shows), except text parts without a file
  name or ``attachment`` disposition, which are alternative bodies.

A message with no sender address, or a multipart whose boundary is missing, is *malformed*:
``parse_message`` raises ``MalformedEmail`` and the workflow hands it to a person.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field
from email import errors as email_errors
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any, Literal

from mailparser_reply import EmailMessage as ReplyMessage

TOKEN = re.compile(r"\bHD-[A-Z0-9]{10}\b", re.IGNORECASE)
PLUS_TOKEN = re.compile(r"\+(HD-[A-Z0-9]{10})@", re.IGNORECASE)
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bq]\?", re.IGNORECASE)
CUT_SHORT = re.compile(r"=\?[^?\s]+\?[bq]\?[^?\s]*$", re.IGNORECASE)
"""An encoded word that the end of the header cut short (no closing ``?=``)."""
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl"]

FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
)
"""Defects after which the parts of a message cannot be told apart."""


class MalformedEmail(ValueError):
    """The message cannot be turned into a ticket or a comment without a person."""

    def __init__(self, message: str, defects: list[str]) -> None:
        super().__init__(message)
        self.defects = defects


@dataclass(frozen=True, slots=True)
class Attachment:
    index: int
    """Position among the message's leaf parts: with the Message-ID, the attachment's identity."""
    filename: str
    content_type: str
    content: bytes = field(repr=False)
    inline: bool
    content_id: str | None

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "filename": self.filename,
            "contentType": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "inline": self.inline,
            "contentId": self.content_id,
        }


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str
    """The Message-ID header, or ``<sha256-of-the-bytes@helpdesk.invalid>`` when it has none."""
    in_reply_to: list[str]
    references: list[str]
    sender_email: str
    sender_name: str | None
    to: list[str]
    cc: list[str]
    subject: str
    date: str | None
    text: str
    """The whole body as text (quotes included)."""
    html: str | None
    html_only: bool
    """No text/plain part: ``text`` was made from the HTML."""
    reply: str
    """What the sender wrote this time: no quoted history, no signature."""
    reply_token: str | None
    token_source: Literal["plus-address", "subject", "body"] | None
    attachments: list[Attachment]
    defects: list[str]

    def describe(self) -> dict[str, Any]:
        """The JSON the parse action returns (attachment contents stay out of the run)."""
        return {
            "messageId": self.message_id,
            "inReplyTo": self.in_reply_to,
            "references": self.references,
            "from": {"email": self.sender_email, "name": self.sender_name},
            "to": self.to,
            "cc": self.cc,
            "subject": self.subject,
            "date": self.date,
            "text": self.text,
            "reply": self.reply,
            "htmlOnly": self.html_only,
            "replyCode": self.reply_token,
            "replyCodeSource": self.token_source,
            "attachments": [a.describe() for a in self.attachments],
            "defects": self.defects,
        }


def parse_message(data: bytes, *, strict: bool = True) -> ParsedEmail:
    """Parse a message; ``strict=False`` never raises ``MalformedEmail`` (a person decided)."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    defects = _defects(message)
    sender_name, sender_email = _sender(message)
    if strict and not sender_email:
        raise MalformedEmail("the message has no sender address (From)", defects)
    if strict and any(isinstance(d, FATAL_DEFECTS) for d in _all_defects(message)):
        raise MalformedEmail(
            "the message's MIME structure is broken: " + "; ".join(defects), defects
        )

    plain_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    if plain_part is None and html_part is None and message.get_content_maintype() == "text":
        plain_part = message  # text/enriched, text/calendar …: read as text
    html = _text_of(html_part) if html_part is not None else None
    if plain_part is not None:
        text = _text_of(plain_part)
    elif html is not None:
        text = html_to_text(html)
    elif message.get_content_maintype() == "multipart":  # could not be split: as written
        payload = message.get_payload()
        text = payload if isinstance(payload, str) else ""
    else:  # the message is a single file (application/pdf …): no text, one attachment
        text = ""
    text = _normalise_newlines(text).strip()
    to = _addresses(message, "To") + _addresses(message, "Delivered-To")
    subject = header_text(message, "Subject") or ""
    token, source = find_reply_token(to + _addresses(message, "Cc"), subject, text, html)
    return ParsedEmail(
        message_id=_message_id(message, data),
        in_reply_to=_ids(message, "In-Reply-To"),
        references=_ids(message, "References"),
        sender_email=sender_email,
        sender_name=sender_name,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        subject=subject,
        date=_header(message, "Date"),
        text=text,
        html=html,
        html_only=plain_part is None and html is not None,
        reply=strip_reply(text),
        reply_token=token,
        token_source=source,
        attachments=_attachments(message, {id(plain_part), id(html_part)}),
        defects=defects,
    )


def strip_reply(text: str) -> str:
    """The newest reply of a message: quoted history and signature removed. Falls back to the
    whole text when the parser leaves nothing (a message that is only a forward, say)."""
    if not text.strip():
        return ""
    try:
        parsed = ReplyMessage(text=text, languages=REPLY_LANGUAGES, keep_hyphen_lists=True)
        replies = parsed.read().replies
    except Exception:  # the parser's regexes on odd input: keep the text as written
        return text.strip()
    body = replies[0].body.strip() if replies else ""
    return body or text.strip()


def find_reply_token(
    recipients: list[str], subject: str, text: str, html: str | None
) -> tuple[str | None, Literal["plus-address", "subject", "body"] | None]:
    """The ticket's reply token and where it was found (plus-address first: it is not quoted
    text a customer could have pasted from another ticket)."""
    for address in recipients:
        found = PLUS_TOKEN.search(address)
        if found:
            return found.group(1).upper(), "plus-address"
    found = TOKEN.search(subject)
    if found:
        return found.group(0).upper(), "subject"
    for body in (text, html or ""):
        found = TOKEN.search(body)
        if found:
            return found.group(0).upper(), "body"
    return None, None


class _HtmlText(HTMLParser):
    BLOCKS = frozenset(
        [
            "address",
            "article",
            "aside",
            "blockquote",
            "dd",
            "div",
            "dl",
            "dt",
            "footer",
            "form",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "header",
            "hr",
            "li",
            "main",
            "nav",
            "ol",
            "p",
            "pre",
            "section",
            "table",
            "tr",
            "ul",
        ]
    )
    SKIP = frozenset({"head", "script", "style", "title", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in self.BLOCKS:
            self.out.append("\n")
            if tag == "li":
                self.out.append("• ")
            if tag == "pre":
                self.pre += 1
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS and tag != "li":
            self.out.append("\n")
            if tag == "pre":
                self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.out.append(data if self.pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text from an HTML body: paragraphs and line breaks kept, markup dropped."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError):  # an unknown or lying charset
        payload = part.get_payload(decode=True) or b""
        assert isinstance(payload, bytes)
        content = payload.decode("utf-8", "replace")
    return content if isinstance(content, str) else content.decode("utf-8", "replace")


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _attachments(message: EmailMessage, bodies: set[int]) -> list[Attachment]:
    found: list[Attachment] = []
    for index, part in enumerate(p for p in message.walk() if not p.is_multipart()):
        if id(part) in bodies:
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        content_id = _header(part, "Content-ID")
        maintype = part.get_content_maintype()
        if maintype == "multipart":  # a multipart that could not be split
            continue
        if maintype == "text" and disposition != "attachment" and not filename:
            continue  # an alternative body (text/calendar, a second text/plain …), not a file
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        content_type = part.get_content_type()
        found.append(
            Attachment(
                index=index,
                filename=_safe_filename(filename, content_type, index),
                content_type=content_type,
                content=content,
                inline=disposition == "inline" or (disposition is None and bool(content_id)),
                content_id=content_id.strip("<>") if content_id else None,
            )
        )
    return found


def _safe_filename(filename: str | None, content_type: str, index: int) -> str:
    """A name safe to show and to put in a path: no folders, no control characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    if not name:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        name = f"part-{index}{extension}"
    return name[:200]


def _sender(message: EmailMessage) -> tuple[str | None, str]:
    """The From address (Sender and Reply-To do not stand in: without From it is anonymous)."""
    addresses = _parsed_addresses(message, "From")
    if not addresses:
        return None, ""
    name, address = addresses[0]
    return (name or None), address.lower()


def _parsed_addresses(message: Message, header: str) -> list[tuple[str, str]]:
    values = message.get_all(header) or []
    try:
        pairs = getaddresses([str(value) for value in values])
    except Exception:
        return []
    return [(name, address) for name, address in pairs if "@" in address]


def _addresses(message: Message, header: str) -> list[str]:
    return [address.lower() for _, address in _parsed_addresses(message, header)]


def _ids(message: Message, header: str) -> list[str]:
    value = _header(message, header) or ""
    return MESSAGE_ID.findall(value)


def _message_id(message: Message, data: bytes) -> str:
    found = _ids(message, "Message-ID")
    if found:
        return found[0]
    return f"<{hashlib.sha256(data).hexdigest()}@helpdesk.invalid>"


def _header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:  # a header policy.default cannot parse
        return None
    return str(value).strip() if value is not None else None


def header_text(message: Message, name: str) -> str | None:
    """A header as a person reads it, or None when it is missing, empty or unparseable.

    ``policy.default`` decodes RFC 2047 encoded words but leaves as written a word it finds
    invalid: one with a bare ``?`` in its quoted-printable text (which mailers write), or one
    cut short at the end of the header (which truncating gateways leave). Then the raw header
    is read again by ``email.header.decode_header``, which takes the bare ``?``, with a word cut
    short closed (``?=``). What it cannot read (bad base64, raw 8-bit text) stays as written."""
    text = _header(message, name)
    if not text or not ENCODED_WORD.search(text):
        return text or None
    raw = next((str(v) for k, v in message.raw_items() if k.lower() == name.lower()), "")
    raw = re.sub(r"\r?\n(?=[ \t])", "", raw).strip()
    if not raw.isascii():
        return text
    try:
        decoded = str(make_header(decode_header(raw + "?=" if CUT_SHORT.search(raw) else raw)))
    except (email_errors.HeaderParseError, LookupError, UnicodeError, ValueError):
        return text
    return text if ENCODED_WORD.search(decoded) else decoded.strip() or None


def _all_defects(message: Message) -> list[Any]:
    return [defect for part in message.walk() for defect in part.defects]


def _defects(message: Message) -> list[str]:
    return [type(defect).__name__ for defect in _all_defects(message)]
