"""Ledger and fence statements of transactional actions (see ``registry.actions``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.dialects import dialect_of
from flowpin.types import TERMINAL_STATUSES


def holds(conn: Connection, owner: str, run_id: str, claim_count: int) -> bool:
    """Whether ``owner`` still holds its claim on the run (row-locked on PostgreSQL until the
    transaction ends, so the claim cannot be taken meanwhile)."""
    query = sa.select(t.runs.c.lease_owner, t.runs.c.claim_count, t.runs.c.status).where(
        t.runs.c.id == run_id
    )
    row = conn.execute(dialect_of(conn).locked(query)).first()
    return (
        row is not None
        and row.lease_owner == owner
        and row.claim_count == claim_count
        and row.status not in TERMINAL_STATUSES
    )


def ledger_succeeded(conn: Connection, run: Any, call: Any, output: Any, now: datetime) -> None:
    """Mark the run's started entry of ``call`` succeeded, with the output."""
    ledger = t.action_ledger
    conn.execute(
        ledger.update()
        .where(
            ledger.c.tenant_id == run.tenant_id,
            ledger.c.key == call.idempotency_key,
            ledger.c.run_id == run.id,
            ledger.c.status == "started",
        )
        .values(
            status="succeeded",
            output=output,
            error=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )


def succeeded_keys(conn: Connection, tenant_id: str, keys: list[str]) -> set[str]:
    """Those of ``keys`` whose ledger entry succeeded (their calls are answered from it)."""
    ledger = t.action_ledger
    return set(
        conn.execute(
            sa.select(ledger.c.key).where(
                ledger.c.tenant_id == tenant_id,
                ledger.c.key.in_(keys),
                ledger.c.status == "succeeded",
            )
        ).scalars()
    )


def succeeded_outputs(conn: Connection, run_id: str) -> dict[str, Any]:
    """The outputs of the run's succeeded calls, by token."""
    ledger = t.action_ledger
    return {
        entry.token: entry.output
        for entry in conn.execute(
            sa.select(ledger.c.token, ledger.c.output).where(
                ledger.c.run_id == run_id, ledger.c.status == "succeeded"
            )
        )
    }
