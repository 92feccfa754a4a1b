"""The side effect the worker fleet tests drive: a remote system that receives each call with
its idempotency key and applies the effect once per key, as a real service honouring an
``Idempotency-Key`` header would.

Each delivery is also recorded on its own (``sink_deliveries``): which process called, under
which claim of the run (``ctx.fence``: the claim count the calling worker holds, as the worker
knows it, not as the database says it at the time), and when it started and ended, so that a
test can check that no run was ever driven by two workers at once. The sink lives in the test's
PostgreSQL schema, written on the handler's own connection (never the worker's transaction): it
is the outside world.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from pydantic import BaseModel

from flowpin.registry.actions import ActionContext, ActionError, action

SINK_ENV = "FLOWPIN_FLEET_SINK"
"""A psycopg connection string for the sink's schema."""

SINK_DDL = """
CREATE TABLE IF NOT EXISTS sink_effects (
    key text PRIMARY KEY, run_id text NOT NULL, step_id text NOT NULL,
    calls integer NOT NULL, applied integer NOT NULL
);
CREATE TABLE IF NOT EXISTS sink_deliveries (
    id bigserial PRIMARY KEY, key text NOT NULL, run_id text NOT NULL, step_id text NOT NULL,
    pid integer NOT NULL, fence integer, t0 double precision NOT NULL,
    t1 double precision NOT NULL
);
"""

_local = threading.local()


class Step(BaseModel):
    n: int


class Done(BaseModel):
    n: int


_opened: list[Any] = []


def _sink():  # type: ignore[no-untyped-def]
    import psycopg

    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed or conn.broken:
        _drop()
        conn = psycopg.connect(os.environ[SINK_ENV], autocommit=True, connect_timeout=5)
        _local.conn = conn
        _opened.append(conn)
    return conn


def _drop() -> None:
    conn = getattr(_local, "conn", None)
    _local.conn = None
    if conn is not None:
        conn.close()


def close_sinks() -> None:
    """Close the sink connections handlers opened in this process (an in-process worker's)."""
    while _opened:
        _opened.pop().close()


def _with_retry(fn):  # type: ignore[no-untyped-def]
    """The remote system may be briefly unreachable (the PostgreSQL restart test): retry, as a
    client with a reconnecting pool would; an effect is applied atomically or not at all."""
    import psycopg

    for attempt in range(60):
        try:
            return fn(_sink())
        except psycopg.OperationalError:
            _drop()
            time.sleep(min(0.05 * (attempt + 1), 0.5))  # a client's back-off, not a wait
    return fn(_sink())


@action("fleet.effect", version=1, effect="side_effect")
def effect(data: Step, ctx: ActionContext) -> Done:
    t0 = time.time()
    time.sleep(0.002)  # the remote call takes a moment: a window in which a double drive shows
    t1 = time.time()
    _with_retry(
        lambda c: c.execute(
            "WITH d AS (INSERT INTO sink_deliveries (key, run_id, step_id, pid, fence, t0, t1) "
            "VALUES (%(key)s, %(run)s, %(step)s, %(pid)s, %(fence)s, %(t0)s, %(t1)s)) "
            "INSERT INTO sink_effects (key, run_id, step_id, calls, applied) "
            "VALUES (%(key)s, %(run)s, %(step)s, 1, 1) "
            "ON CONFLICT (key) DO UPDATE SET calls = sink_effects.calls + 1",
            {
                "key": ctx.idempotency_key,
                "run": ctx.run_id,
                "step": ctx.step_id,
                "pid": os.getpid(),
                "fence": ctx.fence,
                "t0": t0,
                "t1": t1,
            },
        )
    )
    return Done(n=data.n + 1)


class Nothing(BaseModel):
    pass


@action("fleet.unavailable", version=1, effect="idempotent")
def unavailable(data: Nothing) -> Nothing:
    """A remote system that is always down: its steps wait in retry backoffs, then fail."""
    raise ActionError("the remote system is unavailable", retryable=True)
