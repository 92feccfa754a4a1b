"""Tenants, their API keys and their stored secrets: the rows SPEC §8 hangs from a tenant.

Keys are stored as their sha256 only, secrets as Fernet ciphertext; making and checking those is
the engine's (``engine.tenancy``, ``engine.secret_store``), keeping the rows is this module's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t


def ensure_tenant(conn: Connection, tenant_id: str, now: datetime) -> None:
    exists = conn.execute(sa.select(t.tenants.c.id).where(t.tenants.c.id == tenant_id)).first()
    if not exists:
        conn.execute(t.tenants.insert().values(id=tenant_id, name=tenant_id, created_at=now))


def insert_key(
    conn: Connection,
    key_id: str,
    tenant_id: str,
    key_hash: str,
    role: str,
    name: str | None,
    now: datetime,
) -> None:
    conn.execute(
        t.api_keys.insert().values(
            id=key_id,
            tenant_id=tenant_id,
            key_hash=key_hash,
            role=role,
            name=name,
            created_at=now,
        )
    )


def active_key(conn: Connection, key_hash: str) -> Any:
    """The unrevoked key with this hash (id, tenant_id, role, name), or None."""
    return conn.execute(
        sa.select(
            t.api_keys.c.id, t.api_keys.c.tenant_id, t.api_keys.c.role, t.api_keys.c.name
        ).where(t.api_keys.c.key_hash == key_hash, t.api_keys.c.revoked_at.is_(None))
    ).first()


def keys_of(conn: Connection, tenant_id: str) -> list[Any]:
    """The tenant's keys, revoked ones included, oldest first."""
    return list(
        conn.execute(
            sa.select(t.api_keys)
            .where(t.api_keys.c.tenant_id == tenant_id)
            .order_by(t.api_keys.c.created_at, t.api_keys.c.id)
        ).all()
    )


def any_key(conn: Connection) -> bool:
    return conn.execute(sa.select(t.api_keys.c.id).limit(1)).first() is not None


def revoke_key(conn: Connection, tenant_id: str, key_id: str, now: datetime) -> bool:
    """Revoke the tenant's active key; False when there is none by that id."""
    revoked = conn.execute(
        t.api_keys.update()
        .where(
            t.api_keys.c.id == key_id,
            t.api_keys.c.tenant_id == tenant_id,
            t.api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    ).rowcount
    return bool(revoked)


def put_secret(conn: Connection, tenant_id: str, name: str, ciphertext: str, now: datetime) -> bool:
    """Store (or replace) a secret's ciphertext; True when it was new."""
    ensure_tenant(conn, tenant_id, now)
    updated = conn.execute(
        t.secrets.update()
        .where(t.secrets.c.tenant_id == tenant_id, t.secrets.c.name == name)
        .values(ciphertext=ciphertext, updated_at=now)
    ).rowcount
    if updated:
        return False
    conn.execute(
        t.secrets.insert().values(
            tenant_id=tenant_id, name=name, ciphertext=ciphertext, created_at=now, updated_at=now
        )
    )
    return True


def secrets_of(conn: Connection, tenant_id: str, name: str | None = None) -> list[Any]:
    """Names and times (never values) of the tenant's secrets, or of the one called ``name``."""
    query = sa.select(t.secrets.c.name, t.secrets.c.created_at, t.secrets.c.updated_at).where(
        t.secrets.c.tenant_id == tenant_id
    )
    if name is not None:
        query = query.where(t.secrets.c.name == name)
    return list(conn.execute(query.order_by(t.secrets.c.name)).all())


def delete_secret(conn: Connection, tenant_id: str, name: str) -> bool:
    deleted = conn.execute(
        t.secrets.delete().where(t.secrets.c.tenant_id == tenant_id, t.secrets.c.name == name)
    ).rowcount
    return bool(deleted)


def secret_ciphertext(conn: Connection, tenant_id: str, name: str) -> str | None:
    return conn.execute(
        sa.select(t.secrets.c.ciphertext).where(
            t.secrets.c.tenant_id == tenant_id, t.secrets.c.name == name
        )
    ).scalar()
