"""Chaos: three worker processes on one PostgreSQL run a steady W1-like workload (with canceled
runs interleaved and a schedule ticking) while a random worker is SIGKILLed every 0.2–1 s and
restarted. Required: 0 lost runs, 0 duplicated side effects, 0 revived canceled runs, 0 runs
stuck past their lease once the chaos stops. Handler re-deliveries (a worker died between a
call and its checkpoint; the sink applied the key once) are counted and printed.

The short version runs in CI; ``pytest -m slow`` runs 1,000 kills."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fleet import (
    Audit,
    Fleet,
    Frozen,
    audit,
    cancel,
    describe,
    prepare,
    start_many,
    start_runs,
    tick_definition,
    unfinished,
    wait_finished,
)

from flowpin.engine import Engine
from flowpin.store import tables as t

LEASE = 1.5
SLACK = 20.0
"""After the chaos stops, every run finishes within LEASE + SLACK (the last restarted worker
starts, the dead workers' leases expire, the backlog of at most BACKLOG runs drains)."""
BACKLOG = 150
CONCURRENCY = 64
"""Runs a worker holds at once: the backlog is spread over the three workers, so a kill hits
a worker in the middle of its share."""
BATCH = 30


@dataclass
class ChaosResult:
    kills: int
    kills_mid_work: int
    """Killed workers that had called at least one handler."""
    runs_started: int
    drain_seconds: float
    stuck: int
    audit: Audit
    seconds: float
    details: list[dict[str, Any]]
    """What the database holds about a few lost runs."""

    def line(self) -> str:
        a = self.audit
        return (
            f"chaos: {self.kills} kills ({self.kills_mid_work} mid-work) in {self.seconds:.0f}s, "
            f"{self.runs_started} runs: lost={len(a.lost)} duplicated={len(a.duplicated)} "
            f"redeliveries={a.redeliveries} revived={len(a.revived)} stuck={self.stuck} "
            f"(drained {self.drain_seconds:.1f}s after the last kill); {a.summary()}"
        )


def run_chaos(url: str, log: Path, kills: int, seed: int) -> ChaosResult:
    rng = random.Random(seed)
    with prepare(url, LEASE) as engine:  # closed even when an assertion fails
        fleet = Fleet(url, log, LEASE, concurrency=CONCURRENCY)
        expected: list[str] = []
        canceled: dict[str, Frozen] = {}
        parked: list[str] = []
        began = time.monotonic()
        try:
            fleet.start(3)
            engine.publish(tick_definition())
            done = 0
            while done < kills:
                if _active(engine, "w1") < BACKLOG:
                    runs = start_many(engine, BATCH, batch=BATCH)
                    doomed = runs[rng.randrange(len(runs))]  # canceled as it starts
                    frozen = cancel(engine, doomed)
                    if frozen is not None:
                        canceled[doomed] = frozen
                    expected += [r for r in runs if r not in canceled]
                if rng.random() < 0.3:
                    parked += start_runs(engine, "parked", 1)
                if parked and rng.random() < 0.2:
                    # canceled somewhere in its life: queued, calling, or parked for the hour
                    victim = parked.pop(rng.randrange(len(parked)))
                    frozen = cancel(engine, victim)
                    assert frozen is not None
                    canceled[victim] = frozen
                time.sleep(rng.uniform(0.2, 1.0))  # the point: the next kill at a random moment
                fleet.kill_random(rng)
                done += 1
            chaos_over = time.monotonic()
            for victim in parked:
                frozen = cancel(engine, victim)
                assert frozen is not None
                canceled[victim] = frozen
            drain = wait_finished(engine, expected, timeout=LEASE + SLACK)
            stuck = unfinished(engine, expected)
            if stuck:  # stuck, or lost for good? give them a last chance before the audit
                wait_finished(engine, expected, timeout=60)
            time.sleep(1.0)  # let a stale claimant of a canceled run try to write (it must not)
            assert not fleet.dead(), fleet.tail()
        finally:
            fleet.stop()
        result = audit(engine, expected, canceled, fleet.killed)
        details = [describe(engine, run_id) for run_id in result.lost[:3]]
        return ChaosResult(
            details=details,
            kills=done,
            kills_mid_work=len(fleet.killed & set(result.deliveries_per_pid)),
            runs_started=len(expected) + len(canceled),
            drain_seconds=drain,
            stuck=stuck,
            audit=result,
            seconds=chaos_over - began,
        )


def _active(engine: Engine, workflow: str) -> int:
    with engine.db.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(t.runs)
                .where(t.runs.c.workflow_key == workflow, t.runs.c.finished_at.is_(None))
            ).scalar_one()
        )


def check(result: ChaosResult, log: Path) -> None:
    a = result.audit
    tail = log.read_text(errors="replace")[-3000:]
    assert a.lost == [], (len(a.lost), result.details, tail)
    assert result.stuck == 0, result.line()
    assert a.duplicated == []
    assert a.revived == []
    assert a.double_drives == []
    assert a.step_anomalies == []
    assert a.timer_anomalies == []
    assert a.duplicate_slots == []
    # A key is delivered again only by a later claim of its run, after the worker that
    # delivered it died (or, to the lease protocol the same, lost its lease).
    assert a.within_claim == [], result.line()
    assert result.kills_mid_work >= max(2, result.kills // 10), result.line()  # kills hit work


@pytest.mark.timeout(240)
def test_chaos_short(pg_url: str, tmp_path: Path) -> None:
    result = run_chaos(pg_url, tmp_path / "workers.log", kills=25, seed=11)
    print("\n" + result.line())
    check(result, tmp_path / "workers.log")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_chaos_thousand_kills(pg_url: str, tmp_path: Path) -> None:
    result = run_chaos(pg_url, tmp_path / "workers.log", kills=1000, seed=1000)
    print("\n" + result.line())
    check(result, tmp_path / "workers.log")
