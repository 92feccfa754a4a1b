"""Secrets stored per tenant, encrypted with Fernet under ``FLOWPIN_SECRET_KEY`` (SPEC §8).

Values are written encrypted, read only when an action call substitutes ``{"$secret": NAME}``,
and never returned: listings give names and times. Without ``FLOWPIN_SECRET_KEY`` nothing can be
stored. A name a tenant has not stored falls back to ``FLOWPIN_ENV_SECRET_<NAME>`` for the
tenants an operator names (``flowpin.security.secrets``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.engine.views import iso
from flowpin.errors import FlowpinError, NotFoundError
from flowpin.store import tables as t
from flowpin.store.workflows import ensure_tenant

NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")
ENV_KEY = "FLOWPIN_SECRET_KEY"


class SecretsUnavailable(FlowpinError):
    code = "secrets.no_key"


def _fernet(key: str | None = None) -> Any:
    from cryptography.fernet import Fernet

    key = key if key is not None else os.environ.get(ENV_KEY)
    if not key:
        raise SecretsUnavailable(f"set {ENV_KEY} to store secrets")
    try:
        return Fernet(key.encode())
    except ValueError:
        # any passphrase: derive a Fernet key from it
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise FlowpinError(
            f"secret name {name!r} must match {NAME.pattern}", code="secret.bad_name"
        )
    return name


def put(conn: Connection, tenant_id: str, name: str, value: str, now: datetime) -> bool:
    """Store (or replace) a secret; True when it was new."""
    check_name(name)
    ciphertext = _fernet().encrypt(value.encode()).decode()
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


def describe(conn: Connection, tenant_id: str, name: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(t.secrets.c.name, t.secrets.c.created_at, t.secrets.c.updated_at).where(
        t.secrets.c.tenant_id == tenant_id
    )
    if name is not None:
        query = query.where(t.secrets.c.name == name)
    rows = conn.execute(query.order_by(t.secrets.c.name)).all()
    if name is not None and not rows:
        raise NotFoundError(f"secret {name!r} not found", code="secret.not_found")
    return [
        {"name": r.name, "createdAt": iso(r.created_at), "updatedAt": iso(r.updated_at)}
        for r in rows
    ]


def delete(conn: Connection, tenant_id: str, name: str) -> None:
    deleted = conn.execute(
        t.secrets.delete().where(t.secrets.c.tenant_id == tenant_id, t.secrets.c.name == name)
    ).rowcount
    if not deleted:
        raise NotFoundError(f"secret {name!r} not found", code="secret.not_found")


class StoredSecrets:
    """The lookup action calls use: the tenant's stored secret, else ``fallback``."""

    def __init__(self, db: Any, fallback: Callable[[str, str], str]) -> None:
        self.db = db
        self.fallback = fallback

    def __call__(self, tenant_id: str, name: str) -> str:
        with self.db.read() as conn:
            ciphertext = conn.execute(
                sa.select(t.secrets.c.ciphertext).where(
                    t.secrets.c.tenant_id == tenant_id, t.secrets.c.name == name
                )
            ).scalar()
        if ciphertext is None:
            return self.fallback(tenant_id, name)
        from cryptography.fernet import InvalidToken

        try:
            return str(_fernet().decrypt(ciphertext.encode()).decode())
        except (SecretsUnavailable, InvalidToken):
            raise KeyError(name) from None
