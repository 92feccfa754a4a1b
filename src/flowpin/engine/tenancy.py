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

from flowpin.engine.views import iso
from flowpin.errors import FlowpinError, NotFoundError
from flowpin.store import tenants
from flowpin.store.database import Connection

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
    tenants.ensure_tenant(conn, tenant_id, now)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = str(uuid.uuid4())
    tenants.insert_key(conn, key_id, tenant_id, hash_key(key), role, name, now)
    return NewKey(key_id, tenant_id, role, key)


def authenticate(conn: Connection, key: str) -> Principal | None:
    row = tenants.active_key(conn, hash_key(key))
    return None if row is None else Principal(row.id, row.tenant_id, row.role, row.name)


def list_keys(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    return [
        {
            "keyId": r.id,
            "tenant": r.tenant_id,
            "role": r.role,
            "name": r.name,
            "createdAt": iso(r.created_at),
            "revokedAt": iso(r.revoked_at),
        }
        for r in tenants.keys_of(conn, tenant_id)
    ]


def any_key(conn: Connection) -> bool:
    return tenants.any_key(conn)


def revoke_key(conn: Connection, tenant_id: str, key_id: str, now: datetime) -> None:
    if not tenants.revoke_key(conn, tenant_id, key_id, now):
        raise NotFoundError(f"no active key {key_id} in this tenant", code="key.not_found")
