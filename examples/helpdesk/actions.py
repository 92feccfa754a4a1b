"""The helpdesk's actions, called by ``workflows/email-to-ticket.json``.

    helpdesk.parse_email@1              none        the stored message → sender, reply, token, …
    helpdesk.find_ticket@1              none        by reply token, else In-Reply-To/References
    helpdesk.find_or_create_contact@1   idempotent  the sender (new: matched to a client by domain)
    helpdesk.resolve_ticket_defaults@1  none        board, status, priority (or fails)
    helpdesk.create_ticket@1            idempotent  ticket + initial comment, once per Message-ID
    helpdesk.add_comment@1              idempotent  comment on a ticket, once per Message-ID
    helpdesk.store_attachments@1        idempotent  files on disk, once per (Message-ID, part)
    helpdesk.resolve_manually@1         idempotent  what a person decided in the human task

The message itself is never an input: the actions that read it (``parse_email``,
``store_attachments``, ``resolve_manually``) get its ``ref`` and load the bytes from
``helpdesk_inbound`` (see ``inbound.py``); an unknown ref is an ``ERROR_PROCESSING_EMAIL`` no
retry fixes.

The writes are idempotent through natural keys (the message's Message-ID, or the hash of its
bytes when it has none), not only through the run's ledger: the same message delivered twice, even
as two runs, makes one ticket and one comment. Failures a retry cannot fix raise ``ActionError``
with ``data.code`` (``ERROR_PROCESSING_EMAIL``, ``ERROR_NO_TICKET_DEFAULTS``), which the
workflow's catch turns into its state.

As in the journeys example, the functions below *declare* the actions (what ``flowpin validate
--actions examples.helpdesk.actions`` and the designer read) and ``HelpdeskActions(store,
settings).specs()`` binds them to one database and attachments folder.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from examples.binding import bind
from examples.helpdesk.mail import MalformedEmail, ParsedEmail, parse_message
from examples.helpdesk.settings import HelpdeskSettings
from examples.helpdesk.store import HelpdeskStore
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from flowpin.registry import ActionContext, ActionError, ActionSpec, action

ERROR_PROCESSING_EMAIL = "ERROR_PROCESSING_EMAIL"
ERROR_NO_TICKET_DEFAULTS = "ERROR_NO_TICKET_DEFAULTS"
FALLBACK_DEFAULTS = {"board": "Triage", "status": "new", "priority": "normal", "clientId": None}
"""What a ticket a person asked for gets when the tenant has no defaults at all."""
DB_RETRY = {"maxAttempts": 3, "backoffMs": 1_000}
DB_ERRORS = {sa.exc.OperationalError}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EmailRefIn(_Input):
    ref: str = Field(
        pattern="^[0-9a-f]{64}$",
        description="The stored message: sha256 hex of its bytes (helpdesk_inbound).",
    )


class Sender(BaseModel):
    email: str
    name: str | None = None


class AttachmentInfo(BaseModel):
    index: int
    filename: str
    contentType: str
    size: int
    sha256: str
    inline: bool
    contentId: str | None = None


class ParsedEmailOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    messageId: str
    inReplyTo: list[str]
    references: list[str]
    sender: Sender = Field(alias="from")
    to: list[str]
    cc: list[str]
    subject: str
    date: str | None
    text: str = Field(description="The whole body as text, quotes included.")
    reply: str = Field(description="What the sender wrote this time.")
    htmlOnly: bool
    replyCode: str | None = Field(
        description="The reply token found (HD-…): a reference, not a secret (see store.py)."
    )
    replyCodeSource: str | None
    attachments: list[AttachmentInfo]
    defects: list[str]


class FindTicketIn(_Input):
    reply_token: str | None = Field(
        None,
        alias="replyCode",
        validation_alias=AliasChoices("replyCode", "replyToken"),  # replyToken: runs of v1
    )
    in_reply_to: list[str] = Field(default_factory=list, alias="inReplyTo")
    references: list[str] = Field(default_factory=list)


class FindTicketOut(BaseModel):
    ticketId: str | None
    matchedBy: Literal["token", "thread"] | None


class ContactIn(_Input):
    email: str = Field(min_length=3, max_length=320)
    name: str | None = None


class ContactOut(BaseModel):
    contactId: str
    email: str
    name: str | None
    clientId: str | None
    clientName: str | None
    created: bool


class DefaultsIn(_Input):
    mailboxes: list[str] = Field(description="The addresses the message was sent to.")


class Defaults(BaseModel):
    model_config = ConfigDict(extra="ignore")

    board: str
    status: str
    priority: str
    clientId: str | None = None


class DefaultsOut(Defaults):
    mailbox: str


class CreateTicketIn(_Input):
    message_id: str = Field(alias="messageId", min_length=1)
    subject: str
    body: str
    full_text: str | None = Field(None, alias="fullText")
    contact_id: str | None = Field(None, alias="contactId")
    client_id: str | None = Field(None, alias="clientId")
    author_email: str | None = Field(None, alias="authorEmail")
    defaults: Defaults


class AddCommentIn(_Input):
    ticket_id: str = Field(alias="ticketId", min_length=1)
    message_id: str = Field(alias="messageId", min_length=1)
    body: str
    full_text: str | None = Field(None, alias="fullText")
    contact_id: str | None = Field(None, alias="contactId")
    author_email: str | None = Field(None, alias="authorEmail")


class PostedOut(BaseModel):
    ticketId: str
    commentId: str | None
    replyCode: str
    created: bool = Field(description="False: this message had been handled already.")


class StoreAttachmentsIn(EmailRefIn):
    ticket_id: str = Field(alias="ticketId", min_length=1)
    comment_id: str | None = Field(None, alias="commentId")


class StoredAttachment(BaseModel):
    id: str
    filename: str
    contentType: str
    size: int
    sha256: str
    inline: bool
    contentId: str | None
    path: str


class StoreAttachmentsOut(BaseModel):
    stored: list[StoredAttachment]


class Resolution(_Input):
    decision: Literal["create-ticket", "attach-to-ticket"]
    ticket_id: str | None = Field(None, alias="ticketId")
    subject: str | None = None
    sender_email: str | None = Field(None, alias="senderEmail")
    note: str | None = None


class ResolveManuallyIn(EmailRefIn):
    resolution: Resolution


class ResolveManuallyOut(PostedOut):
    attachments: int


# --------------------------------------------------------------------------- declarations


def _unbound(action_id: str) -> ActionError:
    return ActionError(
        f"{action_id} is not bound to a database: install it with "
        "examples.helpdesk.install(engine)",
        retryable=False,
    )


@action("helpdesk.parse_email", version=1, effect="none", retry=DB_RETRY, retryable=DB_ERRORS)
def parse_email(input: EmailRefIn, ctx: ActionContext) -> ParsedEmailOut:
    """Parse the stored RFC 5322 message: sender, threading headers, text (HTML-only made
    text), the reply without quotes and signature, the reply token, attachment metadata."""
    raise _unbound("helpdesk.parse_email")


@action("helpdesk.find_ticket", version=1, effect="none", retry=DB_RETRY, retryable=DB_ERRORS)
def find_ticket(input: FindTicketIn, ctx: ActionContext) -> FindTicketOut:
    """The ticket an email answers: by reply token, else by In-Reply-To/References."""
    raise _unbound("helpdesk.find_ticket")


@action(
    "helpdesk.find_or_create_contact",
    version=1,
    effect="idempotent",
    retry=DB_RETRY,
    retryable=DB_ERRORS,
)
def find_or_create_contact(input: ContactIn, ctx: ActionContext) -> ContactOut:
    """The contact with the sender's address; a new one is matched to a client by domain."""
    raise _unbound("helpdesk.find_or_create_contact")


@action(
    "helpdesk.resolve_ticket_defaults",
    version=1,
    effect="none",
    retry=DB_RETRY,
    retryable=DB_ERRORS,
)
def resolve_ticket_defaults(input: DefaultsIn, ctx: ActionContext) -> DefaultsOut:
    """Board, status and priority of a new ticket for the mailbox; fails with
    ERROR_NO_TICKET_DEFAULTS when none are configured."""
    raise _unbound("helpdesk.resolve_ticket_defaults")


@action(
    "helpdesk.create_ticket", version=1, effect="idempotent", retry=DB_RETRY, retryable=DB_ERRORS
)
def create_ticket(input: CreateTicketIn, ctx: ActionContext) -> PostedOut:
    """A ticket and its initial comment, once per Message-ID."""
    raise _unbound("helpdesk.create_ticket")


@action("helpdesk.add_comment", version=1, effect="idempotent", retry=DB_RETRY, retryable=DB_ERRORS)
def add_comment(input: AddCommentIn, ctx: ActionContext) -> PostedOut:
    """A comment on a ticket, once per Message-ID."""
    raise _unbound("helpdesk.add_comment")


@action(
    "helpdesk.store_attachments",
    version=1,
    effect="idempotent",
    retry=DB_RETRY,
    retryable=DB_ERRORS | {OSError},
)
def store_attachments(input: StoreAttachmentsIn, ctx: ActionContext) -> StoreAttachmentsOut:
    """Write the message's attachments and inline images to disk and record them on the
    ticket, once per (Message-ID, part)."""
    raise _unbound("helpdesk.store_attachments")


@action(
    "helpdesk.resolve_manually",
    version=1,
    effect="idempotent",
    retry=DB_RETRY,
    retryable=DB_ERRORS,
)
def resolve_manually(input: ResolveManuallyIn, ctx: ActionContext) -> ResolveManuallyOut:
    """Do what a person decided for an email the workflow could not handle: create a ticket
    from it, or attach it to a ticket they chose."""
    raise _unbound("helpdesk.resolve_manually")


DECLARATIONS = (
    parse_email,
    find_ticket,
    find_or_create_contact,
    resolve_ticket_defaults,
    create_ticket,
    add_comment,
    store_attachments,
    resolve_manually,
)


# --------------------------------------------------------------------------- the handlers


class HelpdeskActions:
    """The handlers behind the declarations, for one store and one attachments folder."""

    def __init__(self, store: HelpdeskStore, settings: HelpdeskSettings) -> None:
        self.store = store
        self.settings = settings

    def specs(self) -> list[ActionSpec]:
        return bind(DECLARATIONS, self)

    def parse_email(self, input: EmailRefIn, ctx: ActionContext) -> ParsedEmailOut:
        try:
            parsed = parse_message(self._raw(ctx.tenant_id, input.ref))
        except MalformedEmail as exc:
            raise ActionError(
                f"malformed email: {exc}",
                data={"code": ERROR_PROCESSING_EMAIL, "defects": exc.defects},
            ) from None
        return ParsedEmailOut.model_validate(parsed.describe())

    def _raw(self, tenant: str, ref: str) -> bytes:
        raw = self.store.inbound_bytes(tenant, ref)
        if raw is None:
            raise ActionError(
                f"no inbound message {ref} for this tenant (helpdesk_inbound): it was never "
                "stored, or was deleted",
                retryable=False,
                data={"code": ERROR_PROCESSING_EMAIL, "ref": ref},
            )
        return raw

    def find_ticket(self, input: FindTicketIn, ctx: ActionContext) -> FindTicketOut:
        if input.reply_token:
            found = self.store.ticket_by_token(ctx.tenant_id, input.reply_token)
            if found is not None:
                return FindTicketOut(ticketId=found, matchedBy="token")
        thread = [*input.references, *input.in_reply_to]
        found = self.store.ticket_by_messages(ctx.tenant_id, thread)
        return FindTicketOut(ticketId=found, matchedBy="thread" if found else None)

    def find_or_create_contact(self, input: ContactIn, ctx: ActionContext) -> ContactOut:
        contact, created = self.store.find_or_create_contact(ctx.tenant_id, input.email, input.name)
        return ContactOut(**contact, created=created)

    def resolve_ticket_defaults(self, input: DefaultsIn, ctx: ActionContext) -> DefaultsOut:
        found = self.store.defaults_for(ctx.tenant_id, input.mailboxes)
        if found is None:
            raise ActionError(
                "no ticket defaults for "
                + (", ".join(input.mailboxes) or "this mailbox")
                + ": configure them (HelpdeskStore.set_defaults) or resolve the email by hand",
                data={"code": ERROR_NO_TICKET_DEFAULTS, "mailboxes": input.mailboxes},
            )
        return DefaultsOut(**found)

    def create_ticket(self, input: CreateTicketIn, ctx: ActionContext) -> PostedOut:
        posted = self.store.create_ticket(
            ctx.tenant_id,
            message_id=input.message_id,
            subject=input.subject,
            defaults=input.defaults.model_dump(),
            contact_id=input.contact_id,
            client_id=input.client_id,
            author_email=input.author_email,
            body=input.body,
            full_text=input.full_text,
        )
        return _posted(posted)

    def add_comment(self, input: AddCommentIn, ctx: ActionContext) -> PostedOut:
        try:
            posted = self.store.add_comment(
                ctx.tenant_id,
                input.ticket_id,
                message_id=input.message_id,
                contact_id=input.contact_id,
                author_email=input.author_email,
                body=input.body,
                full_text=input.full_text,
            )
        except LookupError as exc:
            raise ActionError(str(exc), data={"code": ERROR_PROCESSING_EMAIL}) from None
        return _posted(posted)

    def store_attachments(
        self, input: StoreAttachmentsIn, ctx: ActionContext
    ) -> StoreAttachmentsOut:
        parsed = parse_message(self._raw(ctx.tenant_id, input.ref), strict=False)
        stored = self._store_files(ctx.tenant_id, parsed, input.ticket_id, input.comment_id)
        return StoreAttachmentsOut(stored=[StoredAttachment(**s) for s in stored])

    def resolve_manually(self, input: ResolveManuallyIn, ctx: ActionContext) -> ResolveManuallyOut:
        parsed = parse_message(self._raw(ctx.tenant_id, input.ref), strict=False)
        decision = input.resolution
        email = (decision.sender_email or parsed.sender_email or "").strip().lower()
        contact = (
            self.store.find_or_create_contact(ctx.tenant_id, email, parsed.sender_name)[0]
            if "@" in email
            else None
        )
        body = parsed.reply or parsed.text or "(the message had no readable text)"
        common = {
            "message_id": parsed.message_id,
            "contact_id": contact["contactId"] if contact else None,
            "author_email": email or None,
            "body": body,
            "full_text": parsed.text,
        }
        if decision.decision == "attach-to-ticket":
            if not decision.ticket_id or not self.store.ticket_exists(
                ctx.tenant_id, decision.ticket_id
            ):
                raise ActionError(
                    f"there is no ticket {decision.ticket_id!r} to attach the email to: give "
                    "the id of an existing ticket, or create a ticket instead",
                    retryable=False,
                    data={"code": ERROR_PROCESSING_EMAIL, "ticketId": decision.ticket_id},
                )
            posted = self.store.add_comment(ctx.tenant_id, decision.ticket_id, **common)
        else:
            defaults = self.store.defaults_for(ctx.tenant_id, parsed.to) or FALLBACK_DEFAULTS
            posted = self.store.create_ticket(
                ctx.tenant_id,
                subject=decision.subject or parsed.subject,
                defaults=defaults,
                client_id=contact["clientId"] if contact else None,
                **common,
            )
        stored = self._store_files(ctx.tenant_id, parsed, posted.ticket_id, posted.comment_id)
        return ResolveManuallyOut(**_posted(posted).model_dump(), attachments=len(stored))

    def _store_files(
        self, tenant: str, parsed: ParsedEmail, ticket_id: str, comment_id: str | None
    ) -> list[dict[str, Any]]:
        folder = self.settings.attachments_dir.absolute() / _safe(tenant) / _safe(ticket_id)
        stored = []
        for part in parsed.attachments:
            path = folder / f"{part.index}-{part.filename}"
            _write_file(path, part.content)
            row, _ = self.store.add_attachment(
                tenant,
                ticket_id=ticket_id,
                comment_id=comment_id,
                message_id=parsed.message_id,
                part_index=part.index,
                filename=part.filename,
                content_type=part.content_type,
                size=part.size,
                sha256=part.sha256,
                inline=part.inline,
                content_id=part.content_id,
                path=str(path),
            )
            stored.append(row)
        return stored


def _posted(posted: Any) -> PostedOut:
    return PostedOut(
        ticketId=posted.ticket_id,
        commentId=posted.comment_id,
        replyCode=posted.reply_token,
        created=posted.created,
    )


def _safe(segment: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", segment).lstrip(".") or "_"


def _write_file(path: Path, content: bytes) -> None:
    """Write whole or not at all (a retried step rewrites the same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = ["DECLARATIONS", "HelpdeskActions"]
