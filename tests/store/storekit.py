"""What the store tests share: the run's row as the database holds it, and claims taken the way
a worker takes them (``store.claims.claim_runs``) on the harness's engine and fake clock."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from flowpin.store import claims
from flowpin.store import tables as t

LEASE_SECONDS = 30.0


def run_row(harness: Any, run_id: str) -> Any:
    with harness.engine.db.read() as conn:
        return conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).one()


def claim(harness: Any, owner: str, limit: int = 10) -> list[Any]:
    """Claim as worker ``owner`` would, now on the harness's clock, with a 30 s lease."""
    with harness.engine.db.write() as conn:
        return claims.claim_runs(conn, owner, harness.clock.now(), LEASE_SECONDS, limit)


def inbox(harness: Any) -> list[Any]:
    with harness.engine.db.read() as conn:
        return list(conn.execute(sa.select(t.run_inbox).order_by(t.run_inbox.c.id)).all())


def waits(harness: Any) -> list[Any]:
    with harness.engine.db.read() as conn:
        return list(conn.execute(sa.select(t.waits).order_by(t.waits.c.id)).all())
