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

from flowpin.engine.views import iso
from flowpin.errors import FlowpinError, NotFoundError
from flowpin.store import tenants
from flowpin.store.database import Connection

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
    return tenants.put_secret(conn, tenant_id, name, ciphertext, now)


def describe(conn: Connection, tenant_id: str, name: str | None = None) -> list[dict[str, Any]]:
    rows = tenants.secrets_of(conn, tenant_id, name)
    if name is not None and not rows:
        raise NotFoundError(f"secret {name!r} not found", code="secret.not_found")
    return [
        {"name": r.name, "createdAt": iso(r.created_at), "updatedAt": iso(r.updated_at)}
        for r in rows
    ]


def delete(conn: Connection, tenant_id: str, name: str) -> None:
    if not tenants.delete_secret(conn, tenant_id, name):
        raise NotFoundError(f"secret {name!r} not found", code="secret.not_found")


class StoredSecrets:
    """The lookup action calls use: the tenant's stored secret, else ``fallback``."""

    def __init__(self, db: Any, fallback: Callable[[str, str], str]) -> None:
        self.db = db
        self.fallback = fallback

    def __call__(self, tenant_id: str, name: str) -> str:
        with self.db.read() as conn:
            ciphertext = tenants.secret_ciphertext(conn, tenant_id, name)
        if ciphertext is None:
            return self.fallback(tenant_id, name)
        from cryptography.fernet import InvalidToken

        try:
            return str(_fernet().decrypt(ciphertext.encode()).decode())
        except (SecretsUnavailable, InvalidToken):
            raise KeyError(name) from None
