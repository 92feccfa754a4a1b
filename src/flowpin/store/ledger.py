"""The action ledger (SPEC §4.5): one row per idempotency key, claimed before a side effect
is called ("started") and finished with its result, so a call is made at most once whoever
holds the run; and the fence of transactional actions, whose writes share the ledger's
transaction.

The checkpoint's ledger writes are bulk statements (``store.bulk``): each takes rows of one
named type whose fields are the statement's columns in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.store import tables as t
from flowpin.store.bulk import Statement, unnest
from flowpin.store.dialects import dialect_of
from flowpin.store.statements import built_once, list_param, listed
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


def ledger_entries(conn: Connection, tenant_id: str, keys: Sequence[str]) -> list[Any]:
    """The tenant's entries of ``keys``: key, status, holder (``run_id``, ``token``), output
    and lease."""
    params = {"tenant": tenant_id, "keys": list_param(conn, list(keys))}
    return list(conn.execute(_LEDGER_ENTRIES(conn), params).all())


_LEDGER_ENTRIES = built_once(
    lambda dialect: sa.select(
        t.action_ledger.c.key,
        t.action_ledger.c.status,
        t.action_ledger.c.run_id,
        t.action_ledger.c.token,
        t.action_ledger.c.output,
        t.action_ledger.c.lease_expires_at,
    ).where(
        t.action_ledger.c.tenant_id == sa.bindparam("tenant", type_=sa.String),
        listed(dialect, t.action_ledger.c.key, "keys"),
    )
)
"""Asked by every checkpoint that issues calls: built once per dialect."""


class Claim(NamedTuple):
    """Who claims an existing entry's key again, for which call (``reclaim_entry``)."""

    run_id: str
    token: str
    step_id: str
    action_id: str
    action_version: int
    attempt: int
    input: Any
    timeout_ms: int | None
    lease_expires_at: datetime


def reclaim_entry(conn: Connection, tenant_id: str, key: str, claim: Claim, now: datetime) -> None:
    """Claim an entry's key for a new call: it failed before, its started call was left by a
    worker that died, or its holder's lease is past. The entry restarts ("started") and counts
    one call more."""
    ledger = t.action_ledger
    conn.execute(
        ledger.update()
        .where(ledger.c.tenant_id == tenant_id, ledger.c.key == key)
        .values(
            calls=ledger.c.calls + 1,
            status="started",
            updated_at=now,
            **claim._asdict(),
        )
    )


def succeeded_step_outputs(
    conn: Connection, run_id: str, step_ids: Sequence[str], since: datetime | None, limit: int
) -> list[Any]:
    """``(step_id, output)`` of the run's latest ``limit`` succeeded calls of ``step_ids``
    (``since``: finished from then on), newest first."""
    ledger = t.action_ledger
    query = (
        sa.select(ledger.c.step_id, ledger.c.output)
        .where(
            ledger.c.run_id == run_id,
            ledger.c.status == "succeeded",
            ledger.c.step_id.in_(sorted(step_ids)),
        )
        .order_by(ledger.c.updated_at.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(ledger.c.updated_at >= since)
    return list(conn.execute(query))


class FinishedCallRow(NamedTuple):
    """A row of ``FINISH_LEDGER``."""

    status: str
    output: str | None
    error: str | None
    updated_at: Any
    tenant_id: str
    key: str


class RecordedCallRow(NamedTuple):
    """A row of ``RECORD_LEDGER``: the result of a call that had no "started" entry."""

    tenant_id: str
    key: str
    run_id: str
    token: str
    step_id: str
    action_id: str
    action_version: int
    attempt: int
    status: str
    created_at: Any
    updated_at: Any
    timeout_ms: int | None
    input: str | None
    output: str | None
    error: str | None


class StartedCallRow(NamedTuple):
    """A row of ``INSERT_LEDGER``: a new key claimed for a call about to be made."""

    tenant_id: str
    key: str
    run_id: str
    token: str
    step_id: str
    action_id: str
    action_version: int
    attempt: int
    lease_expires_at: Any
    created_at: Any
    updated_at: Any
    timeout_ms: int | None
    input: str | None


FINISH_LEDGER = Statement(
    sqlite="UPDATE action_ledger SET status = ?, output = ?, error = ?, "
    "lease_expires_at = NULL, updated_at = ? WHERE tenant_id = ? AND key = ? "
    "AND status = 'started'",
    pg="UPDATE action_ledger AS l SET status = v.status, output = v.output, "
    "error = v.error, lease_expires_at = NULL, updated_at = v.updated_at FROM "
    + unnest(
        "status, output, error, updated_at, tenant_id, key",
        "varchar jsonb jsonb timestamptz varchar varchar",
    )
    + " WHERE l.tenant_id = v.tenant_id AND l.key = v.key AND l.status = 'started'",
    row=FinishedCallRow,
)
_UPSERT_COLUMNS = (
    "tenant_id, key, run_id, token, step_id, action_id, action_version, attempt, status, "
    "calls, lease_expires_at, created_at, updated_at, timeout_ms, input, output, error"
)
_UPSERT_TAIL = (
    " ON CONFLICT (tenant_id, key) DO UPDATE SET run_id = excluded.run_id, "
    "token = excluded.token, step_id = excluded.step_id, action_id = excluded.action_id, "
    "action_version = excluded.action_version, attempt = excluded.attempt, "
    "status = excluded.status, calls = action_ledger.calls + 1, lease_expires_at = NULL, "
    "updated_at = excluded.updated_at, timeout_ms = excluded.timeout_ms, "
    "input = excluded.input, output = excluded.output, error = excluded.error "
    "WHERE action_ledger.status <> 'succeeded'"
)
_RECORD_COLUMNS = (
    "tenant_id, key, run_id, token, step_id, action_id, action_version, attempt, status, "
    "created_at, updated_at, timeout_ms, input, output, error"
)
RECORD_LEDGER = Statement(
    sqlite=f"INSERT INTO action_ledger ({_UPSERT_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, NULL, ?, ?, ?, ?, ?, ?)" + _UPSERT_TAIL,
    pg=f"INSERT INTO action_ledger ({_UPSERT_COLUMNS}) SELECT tenant_id, key, run_id, token, "
    "step_id, action_id, action_version, attempt, status, 1, NULL::timestamptz, created_at, "
    "updated_at, timeout_ms, input, output, error FROM "
    + unnest(
        _RECORD_COLUMNS,
        "varchar varchar varchar varchar varchar varchar int int varchar timestamptz "
        "timestamptz int jsonb jsonb jsonb",
    )
    + _UPSERT_TAIL,
    row=RecordedCallRow,
)
"""The result of a call that had no "started" entry (a repeatable action, see checkpoint)."""
_STARTED_COLUMNS = (
    "tenant_id, key, run_id, token, step_id, action_id, action_version, attempt, "
    "lease_expires_at, created_at, updated_at, timeout_ms, input"
)
INSERT_LEDGER = Statement(
    sqlite="INSERT INTO action_ledger (tenant_id, key, run_id, token, step_id, action_id, "
    "action_version, attempt, status, calls, lease_expires_at, created_at, updated_at, "
    "timeout_ms, input) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'started', 1, ?, ?, ?, ?, ?)",
    pg="INSERT INTO action_ledger (tenant_id, key, run_id, token, step_id, action_id, "
    "action_version, attempt, status, calls, lease_expires_at, created_at, updated_at, "
    "timeout_ms, input) SELECT tenant_id, key, run_id, token, step_id, action_id, "
    "action_version, attempt, 'started', 1, lease_expires_at, created_at, updated_at, "
    "timeout_ms, input FROM "
    + unnest(
        _STARTED_COLUMNS,
        "varchar varchar varchar varchar varchar varchar int int timestamptz timestamptz "
        "timestamptz int jsonb",
    ),
    row=StartedCallRow,
)
