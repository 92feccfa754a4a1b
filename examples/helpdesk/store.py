"""The helpdesk's own tables, in flowpin's database (SQLAlchemy Core; SQLite and PostgreSQL).

    helpdesk_clients          a client organisation, matched by its email domain
    helpdesk_contacts         a person who writes in (one per email address)
    helpdesk_ticket_defaults  board/status/priority for new tickets, per mailbox ('*': any)
    helpdesk_tickets          a ticket and its reply token (HD-XXXXXXXXXX, ``replyCode``)
    helpdesk_comments         what was said on a ticket (the first email is the initial one)
    helpdesk_ticket_messages  every Message-ID attached to a ticket: threading and idempotency
    helpdesk_attachments      files of those messages, stored on disk (see ``settings``)
    helpdesk_inbound          the raw messages as received, by the sha256 of their bytes

An inbound message is stored once (``put_inbound``) and travels through events and runs as its
reference (the claim check): events, run payloads and step history hold a few headers and the
hash, never the message, so its size is bounded by the database, not by flowpin's limits.

Idempotency rests on natural keys: a Message-ID is attached to one ticket once (primary key of
``helpdesk_ticket_messages``), an attachment is ``(message, part index)``. Creating a ticket or
a comment inserts the Message-ID in the same transaction; when that insert collides, the
message was already handled and the existing ticket or comment is returned.

Mail headers can be longer than these columns (folded, a header has no length limit): what a
person reads (a display name, a subject, a content type) is cut to fit and ends with ``MARK``;
a Message-ID, which is a key, is kept whole when it fits (998 characters, the line limit of
RFC 5322) and otherwise stored as its beginning, ``MARK`` and the sha256 of the whole
(``stored_message_id``), so two long ids stay two keys and the same id finds its row again.

The reply token (shown as ``replyCode``) is a reference, not a secret. It is how a reply
finds its ticket: every notification carries it in the subject or a plus-address, so every
email of the thread - and whoever the customer forwards one to - carries it in the clear, and
so do the run's payload (``subject``, ``to``) and the comments people read. What protects a
ticket is that the code cannot be guessed (10 characters of 32: 50 bits), not that staff
never see it; masking one field of a run while the same value is in its subject would protect
nothing and only hide it from the people who need it when a reply went astray. So it is shown
the same way everywhere - the ticket view, runs (API and CLI), ``ingest-eml`` - under a name
that does not match flowpin's secret-like key pattern (``token``), which masks credentials.
Anyone who has it can add a comment to the ticket by email, as with any helpdesk's ticket
reference; a deployment that needs more checks the sender against the ticket's contacts.

``install`` creates the tables; flowpin's own migrations never touch them.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.clock import Clock
from flowpin.store.database import Database

metadata = sa.MetaData()

_TENANT = sa.String(64)
_ID = sa.String(64)
_WHEN = sa.DateTime(timezone=True)

clients = sa.Table(
    "helpdesk_clients",
    metadata,
    sa.Column("tenant_id", _TENANT, primary_key=True),
    sa.Column("id", _ID, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email_domain", sa.String(255), nullable=False),
    sa.Column("created_at", _WHEN, nullable=False),
    sa.UniqueConstraint("tenant_id", "email_domain", name="uq_helpdesk_clients_domain"),
)

contacts = sa.Table(
    "helpdesk_contacts",
    metadata,
    sa.Column("tenant_id", _TENANT, primary_key=True),
    sa.Column("id", _ID, primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("name", sa.String(200)),
    sa.Column("client_id", _ID),
    sa.Column("created_at", _WHEN, nullable=False),
    sa.UniqueConstraint("tenant_id", "email", name="uq_helpdesk_contacts_email"),
)

ticket_defaults = sa.Table(
    "helpdesk_ticket_defaults",
    metadata,
    sa.Column("tenant_id", _TENANT, primary_key=True),
    sa.Column("mailbox", sa.String(320), primary_key=True),
    sa.Column("board", sa.String(100), nullable=False),
    sa.Column("status", sa.String(50), nullable=False),
    sa.Column("priority", sa.String(50), nullable=False),
    sa.Column("client_id", _ID),
    sa.Column("created_at", _WHEN, nullable=False),
)

tickets = sa.Table(
    "helpdesk_tickets",
    metadata,
    sa.Column("tenant_id", _TENANT, primary_key=True),
    sa.Column("id", _ID, primary_key=True),
    sa.Column("reply_token", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(998), nullable=False),
    sa.Column("board", sa.String(100), nullable=False),
    sa.Column("status", sa.String(50), nullable=False),
    sa.Column("priority", sa.String(50), nullable=False),
    sa.Column("contact_id", _ID),
    sa.Column("client_id", _ID),
    sa.Column("source_message_id", sa.String(998), nullable=False),
    sa.Column("created_at", _WHEN, nullable=False),
    sa.UniqueConstraint("tenant_id", "reply_token", name="uq_helpdesk_tickets_token"),
)

comments = sa.Table(
    "helpdesk_comments",
    metadata,
    sa.Column("tenant_id", _TENANT, primary_key=True),
    sa.Column("id", _ID, primary_key=True),
    sa.Column("ticket_id", _ID, nullable=False, index=True),
    sa.Column("contact_id", _ID),
    sa.Column("author_email", sa.String(320)),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("full_text", sa.Text),
    sa.Column("initial", sa.Boolean, nullable=False),
    sa.Column("message_id", sa.String(998)),
    sa.Column("created_at", _WHEN, nullable=False),
)

ticket_messages = sa.Table(
    "helpdesk_ticket_messages",
    metadata,
    sa.Column("tenant_id", _TENANT, primary_key=True),
    sa.Column("message_id", sa.String(998), primary_key=True),
    sa.Column("ticket_id", _ID, nullable=False),
    sa.Column("comment_id", _ID),
    sa.Column("created_at", _WHEN, nullable=False),
)

attachments = sa.Table(
    "helpdesk_attachments",
    metadata,
    sa.Column("tenant_id", _TENANT, primary_key=True),
    sa.Column("id", _ID, primary_key=True),
    sa.Column("ticket_id", _ID, nullable=False, index=True),
    sa.Column("comment_id", _ID),
    sa.Column("message_id", sa.String(998), nullable=False),
    sa.Column("part_index", sa.Integer, nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("inline", sa.Boolean, nullable=False),
    sa.Column("content_id", sa.String(998)),
    sa.Column("path", sa.String(1024), nullable=False),
    sa.Column("created_at", _WHEN, nullable=False),
    sa.UniqueConstraint(
        "tenant_id", "message_id", "part_index", name="uq_helpdesk_attachments_part"
    ),
)

inbound = sa.Table(
    "helpdesk_inbound",
    metadata,
    sa.Column("tenant_id", _TENANT, primary_key=True),
    sa.Column("ref", sa.String(64), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("received_at", _WHEN, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),  # last: SQLite reads columns in order
)

TOKEN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MARK = "…"
"""Ends a text that was cut to fit its column."""
MAX_MESSAGE_ID = 998
NAME_CHARS = 200
SUBJECT_CHARS = 998
CONTENT_TYPE_CHARS = 255


def clip(text: str | None, limit: int) -> str | None:
    """``text`` whole when it fits in ``limit`` characters, else its beginning and ``MARK``."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - len(MARK)] + MARK


def stored_message_id(message_id: str) -> str:
    """The form a Message-ID is stored and looked up in: itself when it fits, else its
    beginning, ``MARK`` and ``sha256:`` of the whole (distinct ids stay distinct)."""
    if len(message_id) <= MAX_MESSAGE_ID:
        return message_id
    digest = "sha256:" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()
    return message_id[: MAX_MESSAGE_ID - len(MARK) - len(digest)] + MARK + digest


def new_reply_token() -> str:
    return "HD-" + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(10))


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True, slots=True)
class Posted:
    """A ticket or comment the store made, or found already made for the same message."""

    ticket_id: str
    comment_id: str | None
    reply_token: str
    created: bool


class HelpdeskStore:
    """The helpdesk's tables for every tenant; each method is one transaction."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def create_tables(self) -> None:
        """Idempotent: creates the tables that are missing."""
        with self.db.write() as conn:
            metadata.create_all(conn, checkfirst=True)

    # ------------------------------------------------------------------ inbound messages

    def put_inbound(self, tenant: str, raw: bytes) -> tuple[str, bool]:
        """Keep a received message; its reference (sha256 hex of the bytes) and whether it was
        new. The same bytes twice: one row, nothing rewritten."""
        ref = hashlib.sha256(raw).hexdigest()
        if self.has_inbound(tenant, ref):
            return ref, False
        statement = inbound.insert().values(
            tenant_id=tenant, ref=ref, size=len(raw), received_at=self.clock.now(), raw=raw
        )
        return ref, self._insert_once(statement)  # False: the same bytes, stored just now

    def has_inbound(self, tenant: str, ref: str) -> bool:
        with self.db.read() as conn:
            found = conn.execute(
                sa.select(inbound.c.size).where(inbound.c.tenant_id == tenant, inbound.c.ref == ref)
            ).first()
        return found is not None

    def inbound_bytes(self, tenant: str, ref: str) -> bytes | None:
        """The message stored under ``ref`` for this tenant, or None."""
        with self.db.read() as conn:
            raw = conn.execute(
                sa.select(inbound.c.raw).where(inbound.c.tenant_id == tenant, inbound.c.ref == ref)
            ).scalar()
        return bytes(raw) if raw is not None else None

    # ------------------------------------------------------------------ set-up data

    def add_client(self, tenant: str, name: str, email_domain: str) -> str:
        client_id = new_id("cl")
        with self.db.write() as conn:
            conn.execute(
                clients.insert().values(
                    tenant_id=tenant,
                    id=client_id,
                    name=name,
                    email_domain=email_domain.lower(),
                    created_at=self.clock.now(),
                )
            )
        return client_id

    def set_defaults(
        self,
        tenant: str,
        *,
        mailbox: str = "*",
        board: str = "Support",
        status: str = "new",
        priority: str = "normal",
        client_id: str | None = None,
        only_if_none: bool = False,
    ) -> bool:
        """Set the defaults of new tickets for ``mailbox`` ('*': any). ``only_if_none``: leave
        a tenant that has any defaults alone (what ``install`` does). True when written."""
        with self.db.write() as conn:
            where = ticket_defaults.c.tenant_id == tenant
            if (
                only_if_none
                and conn.execute(sa.select(ticket_defaults.c.mailbox).where(where)).first()
            ):
                return False
            conn.execute(
                ticket_defaults.delete().where(where, ticket_defaults.c.mailbox == mailbox.lower())
            )
            conn.execute(
                ticket_defaults.insert().values(
                    tenant_id=tenant,
                    mailbox=mailbox.lower(),
                    board=board,
                    status=status,
                    priority=priority,
                    client_id=client_id,
                    created_at=self.clock.now(),
                )
            )
        return True

    def clear_defaults(self, tenant: str) -> None:
        with self.db.write() as conn:
            conn.execute(ticket_defaults.delete().where(ticket_defaults.c.tenant_id == tenant))

    # ------------------------------------------------------------------ lookups

    def defaults_for(self, tenant: str, mailboxes: list[str]) -> dict[str, Any] | None:
        """The defaults of the first mailbox that has some, else the '*' ones, else None."""
        wanted = [m.lower() for m in mailboxes] + ["*"]
        with self.db.read() as conn:
            rows = {
                row.mailbox: row
                for row in conn.execute(
                    sa.select(ticket_defaults).where(
                        ticket_defaults.c.tenant_id == tenant,
                        ticket_defaults.c.mailbox.in_(wanted),
                    )
                )
            }
        for mailbox in wanted:
            row = rows.get(mailbox)
            if row is not None:
                return {
                    "mailbox": row.mailbox,
                    "board": row.board,
                    "status": row.status,
                    "priority": row.priority,
                    "clientId": row.client_id,
                }
        return None

    def ticket_by_token(self, tenant: str, token: str) -> str | None:
        with self.db.read() as conn:
            return conn.execute(
                sa.select(tickets.c.id).where(
                    tickets.c.tenant_id == tenant, tickets.c.reply_token == token.upper()
                )
            ).scalar()

    def ticket_by_messages(self, tenant: str, message_ids: list[str]) -> str | None:
        """The ticket of the newest of these Message-IDs that belongs to one."""
        if not message_ids:
            return None
        message_ids = [stored_message_id(message_id) for message_id in message_ids]
        with self.db.read() as conn:
            found = dict(
                conn.execute(
                    sa.select(ticket_messages.c.message_id, ticket_messages.c.ticket_id).where(
                        ticket_messages.c.tenant_id == tenant,
                        ticket_messages.c.message_id.in_(message_ids),
                    )
                ).all()
            )
        for message_id in reversed(message_ids):  # References list oldest first
            if message_id in found:
                return found[message_id]
        return None

    def ticket_exists(self, tenant: str, ticket_id: str) -> bool:
        with self.db.read() as conn:
            return _ticket(conn, tenant, ticket_id) is not None

    def find_or_create_contact(
        self, tenant: str, email: str, name: str | None
    ) -> tuple[dict[str, Any], bool]:
        """The contact with this address (created, matched to a client by domain, if new)."""
        email = email.lower()
        name = clip(name, NAME_CHARS)
        for _ in range(2):
            with self.db.read() as conn:
                row = _contact_row(conn, tenant, email)
            if row is not None:
                return row, False
            domain = email.rsplit("@", 1)[-1]
            try:
                with self.db.write() as conn:
                    client = conn.execute(
                        sa.select(clients.c.id).where(
                            clients.c.tenant_id == tenant, clients.c.email_domain == domain
                        )
                    ).scalar()
                    conn.execute(
                        contacts.insert().values(
                            tenant_id=tenant,
                            id=new_id("ct"),
                            email=email,
                            name=name,
                            client_id=client,
                            created_at=self.clock.now(),
                        )
                    )
                    created = _contact_row(conn, tenant, email)
                assert created is not None
                return created, True
            except sa.exc.IntegrityError:  # the same sender, at the same moment: read it
                continue
        raise RuntimeError(f"contact {email} could neither be read nor created")

    # ------------------------------------------------------------------ writes

    def create_ticket(
        self,
        tenant: str,
        *,
        message_id: str,
        subject: str,
        defaults: dict[str, Any],
        contact_id: str | None,
        client_id: str | None,
        author_email: str | None,
        body: str,
        full_text: str | None,
    ) -> Posted:
        """A ticket with its initial comment, once per Message-ID."""
        message_id = stored_message_id(message_id)

        def new_ticket(conn: Connection, now: datetime) -> tuple[str, str]:
            ticket_id, token = new_id("tk"), new_reply_token()
            conn.execute(
                tickets.insert().values(
                    tenant_id=tenant,
                    id=ticket_id,
                    reply_token=token,
                    subject=clip(subject or "(no subject)", SUBJECT_CHARS),
                    board=defaults["board"],
                    status=defaults["status"],
                    priority=defaults["priority"],
                    contact_id=contact_id,
                    client_id=client_id or defaults.get("clientId"),
                    source_message_id=message_id,
                    created_at=now,
                )
            )
            return ticket_id, token

        comment = _Comment(message_id, contact_id, author_email, body, full_text)
        return self._post_once(tenant, new_ticket, comment, initial=True)

    def add_comment(
        self,
        tenant: str,
        ticket_id: str,
        *,
        message_id: str,
        contact_id: str | None,
        author_email: str | None,
        body: str,
        full_text: str | None,
    ) -> Posted:
        """A comment on a ticket, once per Message-ID (a repeat returns the first one);
        ``LookupError`` when the ticket does not exist."""
        message_id = stored_message_id(message_id)

        def existing_ticket(conn: Connection, now: datetime) -> tuple[str, str]:
            ticket = _ticket(conn, tenant, ticket_id)
            if ticket is None:
                raise LookupError(f"no ticket {ticket_id!r}")
            return ticket_id, ticket.reply_token

        comment = _Comment(message_id, contact_id, author_email, body, full_text)
        return self._post_once(tenant, existing_ticket, comment, initial=False)

    def _post_once(
        self,
        tenant: str,
        ticket: Callable[[Connection, datetime], tuple[str, str]],
        comment: _Comment,
        *,
        initial: bool,
    ) -> Posted:
        """A comment from a message on the ticket ``ticket`` makes or finds (its id and reply
        token), in one transaction, once per Message-ID: for a message posted before - or at
        the same moment by another run, which the unique Message-ID row turns into an
        IntegrityError here - what was posted then."""
        existing = self._posted(tenant, comment.message_id)
        if existing is not None:
            return existing
        now = self.clock.now()
        comment_id = new_id("cm")
        try:
            with self.db.write() as conn:
                ticket_id, token = ticket(conn, now)
                _insert_comment(conn, tenant, ticket_id, comment_id, comment, initial, now)
        except sa.exc.IntegrityError:
            existing = self._posted(tenant, comment.message_id)
            if existing is None:
                raise
            return existing
        return Posted(ticket_id, comment_id, token, created=True)

    def add_attachment(
        self, tenant: str, *, ticket_id: str, comment_id: str | None, message_id: str, **fields: Any
    ) -> tuple[dict[str, Any], bool]:
        """Record one stored file, once per (message, part index)."""
        message_id = stored_message_id(message_id)
        fields["content_type"] = clip(fields["content_type"], CONTENT_TYPE_CHARS)
        if fields.get("content_id") is not None:
            fields["content_id"] = stored_message_id(fields["content_id"])
        row = {
            "tenant_id": tenant,
            "id": new_id("at"),
            "ticket_id": ticket_id,
            "comment_id": comment_id,
            "message_id": message_id,
            "created_at": self.clock.now(),
            **fields,
        }
        created = self._insert_once(attachments.insert().values(**row))
        with self.db.read() as conn:
            stored = conn.execute(
                sa.select(attachments).where(
                    attachments.c.tenant_id == tenant,
                    attachments.c.message_id == message_id,
                    attachments.c.part_index == fields["part_index"],
                )
            ).one()
        return _attachment_json(stored), created

    def _insert_once(self, statement: Any) -> bool:
        """Run an INSERT guarded by a unique key; False when the row exists already (written
        before, or by another run at the same moment)."""
        try:
            with self.db.write() as conn:
                conn.execute(statement)
        except sa.exc.IntegrityError:
            return False
        return True

    def _posted(self, tenant: str, message_id: str) -> Posted | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(
                    ticket_messages.c.ticket_id,
                    ticket_messages.c.comment_id,
                    tickets.c.reply_token,
                )
                .join(
                    tickets,
                    sa.and_(
                        tickets.c.tenant_id == ticket_messages.c.tenant_id,
                        tickets.c.id == ticket_messages.c.ticket_id,
                    ),
                )
                .where(
                    ticket_messages.c.tenant_id == tenant,
                    ticket_messages.c.message_id == message_id,
                )
            ).first()
        if row is None:
            return None
        return Posted(row.ticket_id, row.comment_id, row.reply_token, created=False)

    # ------------------------------------------------------------------ the read-only view

    def list_tickets(self, tenant: str, *, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(tickets)
                .where(tickets.c.tenant_id == tenant)
                .order_by(tickets.c.created_at.desc(), tickets.c.id)
                .limit(max(1, min(limit, 1000)))
            ).all()
            counts = dict(
                conn.execute(
                    sa.select(comments.c.ticket_id, sa.func.count())
                    .where(comments.c.tenant_id == tenant)
                    .group_by(comments.c.ticket_id)
                ).all()
            )
        return [{**_ticket_json(row), "comments": counts.get(row.id, 0)} for row in rows]

    def ticket_view(self, tenant: str, ticket_id: str) -> dict[str, Any] | None:
        """A ticket with its contact, comments (oldest first) and attachments."""
        with self.db.read() as conn:
            row = _ticket(conn, tenant, ticket_id)
            if row is None:
                return None
            contact = (
                conn.execute(
                    sa.select(contacts).where(
                        contacts.c.tenant_id == tenant, contacts.c.id == row.contact_id
                    )
                ).first()
                if row.contact_id
                else None
            )
            said = conn.execute(
                sa.select(comments)
                .where(comments.c.tenant_id == tenant, comments.c.ticket_id == ticket_id)
                .order_by(comments.c.created_at, comments.c.initial.desc(), comments.c.id)
            ).all()
            files = conn.execute(
                sa.select(attachments)
                .where(attachments.c.tenant_id == tenant, attachments.c.ticket_id == ticket_id)
                .order_by(attachments.c.created_at, attachments.c.part_index)
            ).all()
        return {
            **_ticket_json(row),
            "contact": (
                {"id": contact.id, "email": contact.email, "name": contact.name}
                if contact is not None
                else None
            ),
            "comments": [
                {
                    "id": c.id,
                    "initial": c.initial,
                    "authorEmail": c.author_email,
                    "body": c.body,
                    "messageId": c.message_id,
                    "createdAt": _iso(c.created_at),
                }
                for c in said
            ],
            "attachments": [_attachment_json(a) for a in files],
        }

    def counts(self, tenant: str) -> dict[str, int]:
        """Rows per table for one tenant (what tests and the walk-through check)."""
        with self.db.read() as conn:
            return {
                table.name.removeprefix("helpdesk_"): conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(table.c.tenant_id == tenant)
                ).scalar_one()
                for table in (contacts, tickets, comments, attachments, ticket_messages, inbound)
            }


@dataclass(frozen=True, slots=True)
class _Comment:
    """What a comment takes from the message it comes from."""

    message_id: str
    contact_id: str | None
    author_email: str | None
    body: str
    full_text: str | None


def _insert_comment(
    conn: Connection,
    tenant: str,
    ticket_id: str,
    comment_id: str,
    comment: _Comment,
    initial: bool,
    now: datetime,
) -> None:
    """A comment and the Message-ID it came from; the Message-ID's row is unique, so a
    message delivered twice adds nothing the second time (IntegrityError)."""
    conn.execute(
        ticket_messages.insert().values(
            tenant_id=tenant,
            message_id=comment.message_id,
            ticket_id=ticket_id,
            comment_id=comment_id,
            created_at=now,
        )
    )
    conn.execute(
        comments.insert().values(
            tenant_id=tenant,
            id=comment_id,
            ticket_id=ticket_id,
            contact_id=comment.contact_id,
            author_email=comment.author_email,
            body=comment.body,
            full_text=comment.full_text,
            initial=initial,
            message_id=comment.message_id,
            created_at=now,
        )
    )


def _ticket(conn: Connection, tenant: str, ticket_id: str) -> Any:
    return conn.execute(
        sa.select(tickets).where(tickets.c.tenant_id == tenant, tickets.c.id == ticket_id)
    ).first()


def _contact_row(conn: Connection, tenant: str, email: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(contacts, clients.c.name.label("client_name"))
        .outerjoin(
            clients,
            sa.and_(
                clients.c.tenant_id == contacts.c.tenant_id, clients.c.id == contacts.c.client_id
            ),
        )
        .where(contacts.c.tenant_id == tenant, contacts.c.email == email)
    ).first()
    if row is None:
        return None
    return {
        "contactId": row.id,
        "email": row.email,
        "name": row.name,
        "clientId": row.client_id,
        "clientName": row.client_name,
    }


def _ticket_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "replyCode": row.reply_token,
        "subject": row.subject,
        "board": row.board,
        "status": row.status,
        "priority": row.priority,
        "contactId": row.contact_id,
        "clientId": row.client_id,
        "sourceMessageId": row.source_message_id,
        "createdAt": _iso(row.created_at),
    }


def _attachment_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "ticketId": row.ticket_id,
        "commentId": row.comment_id,
        "filename": row.filename,
        "contentType": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "inline": row.inline,
        "contentId": row.content_id,
        "path": row.path,
    }


def _iso(moment: datetime) -> str:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
