"""A transactional action: its effect is a row in flowpin's own database."""

from __future__ import annotations

import sqlalchemy as sa
from pydantic import BaseModel

from flowpin.registry.actions import ActionContext, ActionError, action

CONTACTS = sa.table("tx_contacts", sa.column("id"), sa.column("name"), sa.column("calls"))
FAIL_AFTER_WRITE: dict[str, int] = {}
"""name → how many more calls write their row and then fail (the write must not survive)."""


def create_table(conn: sa.Connection) -> None:
    conn.exec_driver_sql(
        "CREATE TABLE IF NOT EXISTS tx_contacts "
        "(id VARCHAR(200) PRIMARY KEY, name VARCHAR(200), calls INTEGER NOT NULL)"
    )


class NewContact(BaseModel):
    name: str


class Contact(BaseModel):
    id: str


@action("crm.add_contact", version=1, transactional=True)
def add_contact(data: NewContact, ctx: ActionContext) -> Contact:
    conn = ctx.connection
    existing = conn.execute(
        sa.select(CONTACTS.c.calls).where(CONTACTS.c.id == ctx.idempotency_key)
    ).scalar()
    if existing is None:
        conn.execute(sa.insert(CONTACTS).values(id=ctx.idempotency_key, name=data.name, calls=1))
    else:
        conn.execute(
            sa.update(CONTACTS)
            .where(CONTACTS.c.id == ctx.idempotency_key)
            .values(calls=CONTACTS.c.calls + 1)
        )
    if FAIL_AFTER_WRITE.get(data.name, 0) > 0:
        FAIL_AFTER_WRITE[data.name] -= 1
        raise ActionError("the directory is read-only right now", retryable=True)
    return Contact(id=ctx.idempotency_key)
