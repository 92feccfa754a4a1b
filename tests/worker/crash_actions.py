"""Actions for the crash test. ``crash.effect`` records each call in a separate SQLite file,
keyed by the idempotency key — as a downstream service that honours idempotency keys would.
``crash.record`` is transactional: its effect is a row of ``crash_records`` in flowpin's own
database, committed with the ledger's record of the call."""

from __future__ import annotations

import os
import sqlite3

import sqlalchemy as sa
from pydantic import BaseModel

from flowpin.registry.actions import ActionContext, action


class Step(BaseModel):
    n: int


class Done(BaseModel):
    n: int


def _effects() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ["FLOWPIN_CRASH_EFFECTS"], timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, calls INTEGER, applied INTEGER)"
    )
    return conn


@action("crash.effect", version=1, effect="side_effect")
def effect(data: Step, ctx: ActionContext) -> Done:
    conn = _effects()
    with conn:
        conn.execute(
            "INSERT INTO effects (key, calls, applied) VALUES (?, 1, 1) "
            "ON CONFLICT(key) DO UPDATE SET calls = calls + 1",
            (ctx.idempotency_key,),
        )
    conn.close()
    return Done(n=data.n + 1)


RECORDS_TABLE = (
    "CREATE TABLE IF NOT EXISTS crash_records (key VARCHAR(200) PRIMARY KEY, calls INTEGER)"
)


@action("crash.record", version=1, effect="side_effect", transactional=True)
def record(data: Step, ctx: ActionContext) -> Done:
    ctx.connection.execute(
        sa.text(
            "INSERT INTO crash_records (key, calls) VALUES (:key, 1) "
            "ON CONFLICT (key) DO UPDATE SET calls = crash_records.calls + 1"
        ),
        {"key": ctx.idempotency_key},
    )
    return Done(n=data.n + 1)
