"""PostgreSQL restarts (``pg_ctlcluster 15 main restart``) while two worker processes and an
in-process worker drive W1 runs: the workers ride it out (they reconnect and carry on), every
run finishes, and no side effect is applied twice.

The restart cuts every connection to the server, other tests' too: this test runs once, and
only where ``pg_ctlcluster`` can restart the server the tests use - or against a private
cluster that ``FLOWPIN_TEST_PG_RESTART`` names the restart command of (with ``FLOWPIN_TEST_PG``
pointing the tests at it), so that it can run while others use the shared server."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import fleet_actions
import pytest
import sqlalchemy as sa
from fleet import Fleet, audit, make_engine, prepare, start_many, wait_finished

from flowpin.engine import Engine
from flowpin.store import tables as t
from flowpin.worker.loop import WorkerOptions
from waiting import wait_until

LEASE = 3.0
RUNS = 600
CLUSTER = ("15", "main")
RESTART_ENV = "FLOWPIN_TEST_PG_RESTART"
"""A shell command restarting the server of ``FLOWPIN_TEST_PG`` (e.g. ``su postgres -c
'pg_ctl -D /tmp/pg5491/data -l /tmp/pg5491/log -w restart'``); unset: ``pg_ctlcluster 15 main
restart``, the shared server."""


def _restart_postgres(url: str) -> None:
    command = os.environ.get(RESTART_ENV)
    if command:
        subprocess.run(command, shell=True, check=True, timeout=120)
    else:
        subprocess.run(["pg_ctlcluster", *CLUSTER, "restart"], check=True, timeout=120)
    where = sa.engine.make_url(url)
    ready = ["pg_isready", "-h", where.host or "127.0.0.1", "-p", str(where.port or 5432), "-q"]
    wait_until(
        lambda: subprocess.run(ready, check=False).returncode == 0,
        "PostgreSQL to come back",
        seconds=60,
        every=0.2,
    )


def _deliveries(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.db.read() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM sink_deliveries")).scalar_one())


def _finished_steps(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.db.read() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(t.step_history)).scalar_one()
        )


@pytest.mark.skipif(
    shutil.which("pg_ctlcluster") is None and not os.environ.get(RESTART_ENV),
    reason=f"needs pg_ctlcluster or {RESTART_ENV}",
)
@pytest.mark.timeout(300)
def test_workers_ride_out_a_postgres_restart(
    pg_url: str, tmp_path: Path, closing: Callable[[Engine], Engine]
) -> None:
    engine = closing(prepare(pg_url, LEASE))
    fleet = Fleet(pg_url, tmp_path / "workers.log", LEASE)
    local = closing(make_engine(pg_url, LEASE))
    stop = threading.Event()
    options = WorkerOptions(lease_seconds=LEASE, poll_seconds=0.2)
    in_process = threading.Thread(
        target=local.run_worker, kwargs={"stop": stop, "options": options}, daemon=True
    )
    try:
        fleet.start(2)
        in_process.start()
        runs = start_many(engine, RUNS)
        wait_until(lambda: _deliveries(engine) >= RUNS // 2, "half the deliveries", seconds=120)
        before = _finished_steps(engine)
        assert before < 4 * RUNS, "the runs finished before the restart: nothing was tested"

        _restart_postgres(pg_url)

        took = wait_finished(engine, runs, timeout=120)
        assert not fleet.dead(), fleet.tail()
        assert in_process.is_alive(), "the in-process worker ended on the restart"
    finally:
        stop.set()
        fleet.stop()
        in_process.join(30)
        fleet_actions.close_sinks()
    result = audit(engine, runs, {}, killed=set())
    print(
        f"\npg restart: {before} of {4 * RUNS} steps done before it, all done {took:.1f}s "
        f"after; {result.summary()}"
    )
    assert result.lost == [], fleet.tail()
    assert result.duplicated == []
    assert result.double_drives == []
    assert result.step_anomalies == []
    assert result.timer_anomalies == []
    assert len(result.deliveries_per_pid) == 3  # both processes and the in-process worker
