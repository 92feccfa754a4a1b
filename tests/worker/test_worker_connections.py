"""A worker keeps one database connection while it runs (on PostgreSQL its transactions run
one at a time on a connection its database thread keeps) and gives it back when it stops: an
application that calls ``run_worker(until_idle=True)`` again and again must not use up the
pool (it did: each stopped worker's kept connection held a pool slot until the engine closed,
and the eleventh call waited 30 s for a connection and failed)."""

from __future__ import annotations

import sample_actions
from builders import action_call, workflow
from flowpin.engine import Engine
from flowpin.registry.catalog import Registry


def test_a_stopped_worker_gives_its_connection_back(db_url: str) -> None:
    registry = Registry()
    registry.register(sample_actions)
    with Engine(db_url, registry=registry) as engine:
        engine.publish(workflow("w", action_call("a", "test.echo", inputMapping={"text": "hi"})))
        pool = engine.db.engine.pool
        held = []
        for _ in range(15):  # more than the pool's 5 connections and 5 overflow
            run_id = engine.start("w", {})
            engine.run_worker(until_idle=True)
            assert engine.get_run(run_id)["status"] == "SUCCEEDED"
            held.append(pool.checkedout())
        # What the engine itself keeps (SQLite: the one connection its writes share), no more.
        assert held == [held[0]] * 15 and held[0] <= 1
