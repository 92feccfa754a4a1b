"""Actions for the crash test: each call records itself in a separate SQLite file, keyed by the
idempotency key — as a downstream service that honours idempotency keys would."""

from __future__ import annotations

import os
import sqlite3

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
