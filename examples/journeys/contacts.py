"""Contacts of the email-marketing product, in the example's own table of flowpin's database.

A contact is ``{id, email, subscribed, data}``: ``data`` is free JSON (first name, plan, what
journeys wrote back), ``subscribed`` decides whether marketing email may reach it. The table lives
beside flowpin's own tables (same database, same transactions helpers) but belongs to the example:
``install`` creates it, flowpin's migrations never touch it.

Invariants: one row per ``(tenant_id, id)``; an email address is used by one contact per tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.clock import Clock
from flowpin.errors import ConflictError, NotFoundError
from flowpin.store.database import Database

metadata = sa.MetaData()

contacts = sa.Table(
    "journeys_contacts",
    metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("subscribed", sa.Boolean, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("tenant_id", "email", name="uq_journeys_contacts_email"),
)


class ContactNotFound(NotFoundError):
    code = "contact.not_found"


class ContactExists(ConflictError):
    code = "contact.exists"


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    email: str
    subscribed: bool
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "subscribed": self.subscribed,
            "data": self.data,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
        }

    def template_context(self) -> dict[str, Any]:
        """What an email template sees as ``contact``: the data's keys, then the fixed fields
        (``{{ contact.firstName }}``, ``{{ contact.email }}``)."""
        return {**self.data, "id": self.id, "email": self.email, "subscribed": self.subscribed}


class ContactStore:
    """Contacts of every tenant; each method is one transaction."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def create_table(self) -> None:
        """Idempotent: creates the table when it is missing."""
        with self.db.write() as conn:
            metadata.create_all(conn, checkfirst=True)

    def create(
        self,
        tenant: str,
        email: str,
        *,
        data: dict[str, Any] | None = None,
        subscribed: bool = True,
        contact_id: str | None = None,
    ) -> Contact:
        now = self.clock.now()
        row = {
            "tenant_id": tenant,
            "id": contact_id or f"c_{uuid.uuid4().hex[:16]}",
            "email": email,
            "subscribed": subscribed,
            "data": data or {},
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self.db.write() as conn:
                conn.execute(contacts.insert().values(**row))
        except sa.exc.IntegrityError:
            raise ContactExists(
                "a contact with this id or email exists", details={"email": email}
            ) from None
        return self.get(tenant, row["id"])

    def get(self, tenant: str, contact_id: str) -> Contact:
        with self.db.read() as conn:
            return _require(_select(conn, tenant, contact_id), contact_id)

    def find(self, tenant: str, contact_id: str) -> Contact | None:
        with self.db.read() as conn:
            return _select(conn, tenant, contact_id)

    def list_contacts(
        self, tenant: str, *, email: str | None = None, limit: int = 100
    ) -> list[Contact]:
        query = (
            sa.select(contacts)
            .where(contacts.c.tenant_id == tenant)
            .order_by(contacts.c.created_at, contacts.c.id)
            .limit(max(1, min(limit, 1000)))
        )
        if email is not None:
            query = query.where(contacts.c.email == email)
        with self.db.read() as conn:
            return [_contact(row) for row in conn.execute(query)]

    def update(
        self,
        tenant: str,
        contact_id: str,
        *,
        data: dict[str, Any] | None = None,
        email: str | None = None,
        subscribed: bool | None = None,
    ) -> Contact:
        """Merge ``data`` into the contact's data (a ``null`` value removes the key) and set the
        other fields given. Row-locked on PostgreSQL, so concurrent merges do not lose keys."""
        try:
            with self.db.write() as conn:
                current = _require(_select(conn, tenant, contact_id, lock=True), contact_id)
                changes: dict[str, Any] = {"updated_at": self.clock.now()}
                if data:
                    merged = {**current.data, **data}
                    changes["data"] = {k: v for k, v in merged.items() if v is not None}
                if email is not None:
                    changes["email"] = email
                if subscribed is not None:
                    changes["subscribed"] = subscribed
                conn.execute(
                    contacts.update()
                    .where(contacts.c.tenant_id == tenant, contacts.c.id == contact_id)
                    .values(**changes)
                )
        except sa.exc.IntegrityError:
            raise ContactExists(
                "another contact has this email", details={"email": email}
            ) from None
        return self.get(tenant, contact_id)


def _select(conn: Connection, tenant: str, contact_id: str, lock: bool = False) -> Contact | None:
    query = sa.select(contacts).where(contacts.c.tenant_id == tenant, contacts.c.id == contact_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return _contact(row) if row is not None else None


def _require(contact: Contact | None, contact_id: str) -> Contact:
    if contact is None:
        raise ContactNotFound(f"no contact {contact_id!r}", details={"id": contact_id})
    return contact


def _iso(moment: datetime) -> str:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _contact(row: Any) -> Contact:
    return Contact(
        id=row.id,
        email=row.email,
        subscribed=row.subscribed,
        data=dict(row.data or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
