"""A worker that takes over a run whose previous worker stopped in the middle of a call
re-issues that call once: the call is both in the run's checkpointed frames and a ``started``
ledger entry, and must not be sent twice (the second copy used to go out again while the first
was still running)."""

from __future__ import annotations

import threading

import sqlalchemy as sa
import takeover_actions

from flowpin.engine import Engine
from flowpin.registry.catalog import Registry
from flowpin.store import tables as t
from waiting import wait_until


def test_a_call_left_started_is_called_again_once(db_url: str) -> None:
    takeover_actions.CALLS.clear()
    takeover_actions.RELEASE.clear()
    registry = Registry()
    registry.register(takeover_actions)
    with Engine(db_url, registry=registry) as engine:
        _take_over(engine)


def _take_over(engine: Engine) -> None:
    engine.publish(
        {
            "key": "takeover",
            "steps": [
                {
                    "id": "call",
                    "type": "action.call",
                    "config": {"actionId": "takeover.effect", "version": 1, "inputMapping": {}},
                }
            ],
        }
    )
    run_id = engine.start("takeover", {})
    stop = threading.Event()
    first = threading.Thread(target=engine.run_worker, kwargs={"stop": stop})
    first.start()
    wait_until(lambda: takeover_actions.CALLS, "the first worker to call the action", seconds=10)
    stop.set()  # the worker lets go of the run while the call is in flight …
    wait_until(
        lambda: _lease_owner(engine, run_id) is None, "the worker to let go of the run", seconds=10
    )
    takeover_actions.RELEASE.set()  # … so the call's result, when it comes, is dropped
    first.join(15)
    with engine.db.read() as conn:
        ledger = conn.execute(sa.select(t.action_ledger.c.status)).scalars().all()
    assert ledger == ["started"]

    engine.run_worker(until_idle=True)

    assert engine.get_run(run_id)["status"] == "SUCCEEDED"
    assert len(takeover_actions.CALLS) == 2  # the interrupted call, then exactly one more
    with engine.db.read() as conn:
        assert conn.execute(sa.select(t.action_ledger.c.calls)).scalars().all() == [2]


def _lease_owner(engine: Engine, run_id: str) -> str | None:
    with engine.db.read() as conn:
        return conn.execute(
            sa.select(t.runs.c.lease_owner).where(t.runs.c.id == run_id)
        ).scalar_one()
