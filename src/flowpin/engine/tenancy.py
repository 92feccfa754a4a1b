"""Tenants and API keys (SPEC §8).

A key is ``fp_`` + 32 random bytes (URL-safe base64); only its sha256 is stored, so a leaked
database leaks no usable key. Each key belongs to one tenant and has one role:
``viewer`` < ``editor`` (drafts, start runs, events, tasks) < ``admin`` (publish, operator
actions, keys).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.engine.views import iso
from flowpin.errors import FlowpinError
from flowpin.store import tables as t
from flowpin.store.workflows import ensure_tenant

ROLES = ("viewer", "editor", "admin")
KEY_PREFIX = "fp_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, tenant and role."""

    key_id: str
    tenant: str
    role: str
    name: str | None = None

    @property
    def who(self) -> str:
        """How history and tasks name this caller: the key's name, else its id."""
        return self.name or f"key {self.key_id}"

    def allows(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class NewKey:
    key_id: str
    tenant: str
    role: str
    key: str
    """The secret itself: shown once, never stored."""

    def to_dict(self) -> dict[str, Any]:
        return {"keyId": self.key_id, "tenant": self.tenant, "role": self.role, "key": self.key}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    conn: Connection, tenant_id: str, role: str, now: datetime, *, name: str | None = None
) -> NewKey:
    if role not in ROLES:
        raise FlowpinError(
            f"unknown role {role!r}; one of {', '.join(ROLES)}", code="key.invalid_role"
        )
    ensure_tenant(conn, tenant_id, now)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = str(uuid.uuid4())
    conn.execute(
        t.api_keys.insert().values(
            id=key_id,
            tenant_id=tenant_id,
            key_hash=hash_key(key),
            role=role,
            name=name,
            created_at=now,
        )
    )
    return NewKey(key_id, tenant_id, role, key)


def authenticate(conn: Connection, key: str) -> Principal | None:
    row = conn.execute(
        sa.select(
            t.api_keys.c.id, t.api_keys.c.tenant_id, t.api_keys.c.role, t.api_keys.c.name
        ).where(t.api_keys.c.key_hash == hash_key(key), t.api_keys.c.revoked_at.is_(None))
    ).first()
    return None if row is None else Principal(row.id, row.tenant_id, row.role, row.name)


def list_keys(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(t.api_keys)
        .where(t.api_keys.c.tenant_id == tenant_id)
        .order_by(t.api_keys.c.created_at, t.api_keys.c.id)
    ).all()
    return [
        {
            "keyId": r.id,
            "tenant": r.tenant_id,
            "role": r.role,
            "name": r.name,
            "createdAt": iso(r.created_at),
            "revokedAt": iso(r.revoked_at),
        }
        for r in rows
    ]


def any_key(conn: Connection) -> bool:
    return conn.execute(sa.select(t.api_keys.c.id).limit(1)).first() is not None


def revoke_key(conn: Connection, tenant_id: str, key_id: str, now: datetime) -> None:
    from flowpin.errors import NotFoundError

    revoked = conn.execute(
        t.api_keys.update()
        .where(
            t.api_keys.c.id == key_id,
            t.api_keys.c.tenant_id == tenant_id,
            t.api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    ).rowcount
    if not revoked:
        raise NotFoundError(f"no active key {key_id} in this tenant", code="key.not_found")
