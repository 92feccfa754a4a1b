"""A fleet of worker processes on one PostgreSQL schema, the workloads they run, and the audit
of what happened, read back from the database.

``Fleet`` starts ``fleet_worker.py`` processes, kills (SIGKILL) and restarts them, and stops
them. ``Workload`` publishes a W1-like workflow (side-effect calls around a short timer), a
workflow whose runs park for an hour (to be canceled while parked), and a schedule firing every
second. ``audit`` reads the runs, step history, ledger, timers and the side-effect sink
(``fleet_actions``) and returns an ``Audit``: every count a test asserts on.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import fleet_actions
import psycopg
import sqlalchemy as sa

from flowpin.engine import Engine
from flowpin.registry.catalog import Registry
from flowpin.store import tables as t
from waiting import wait_until

HERE = Path(__file__).parent
W1_STEPS = ("a1", "a2", "pause", "a3")
EFFECT_STEPS = ("a1", "a2", "a3")


def sink_url(db_url: str) -> str:
    """The psycopg form of an SQLAlchemy PostgreSQL URL (same server, same schema)."""
    return db_url.replace("postgresql+psycopg://", "postgresql://")


def _effect(step_id: str, n: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "action.call",
        "config": {
            "actionId": "fleet.effect",
            "version": 1,
            "inputMapping": {"n": n},
            "saveAs": "vars.r",
        },
    }


def w1_definition(wait_ms: int = 200) -> dict[str, Any]:
    """Three side-effect calls with a durable timer between the second and the third; started
    by hand or by a ``w1.go`` event (many at once: ``start_many``)."""
    return {
        "key": "w1",
        "triggers": [{"type": "event", "eventName": "w1.go"}],
        "steps": [
            _effect("a1", 0),
            _effect("a2", {"$expr": "vars.r.n"}),
            {"id": "pause", "type": "time.wait", "config": {"durationMs": wait_ms}},
            _effect("a3", {"$expr": "vars.r.n"}),
        ],
        "output": {"$expr": "vars.r.n"},
    }


def parked_definition() -> dict[str, Any]:
    """One call, then an hour's wait: runs that are canceled while parked."""
    return {
        "key": "parked",
        "steps": [
            _effect("a1", 0),
            {"id": "pause", "type": "time.wait", "config": {"durationMs": 3_600_000}},
            _effect("a2", {"$expr": "vars.r.n"}),
        ],
    }


def tick_definition(cron: str = "* * * * * *") -> dict[str, Any]:
    """A schedule (every second by default: croniter's sixth field is seconds)."""
    return {
        "key": "tick",
        "triggers": [{"type": "schedule", "cron": cron}],
        "steps": [_effect("a1", 0)],
    }


def make_engine(url: str, lease_seconds: float) -> Engine:
    registry = Registry()
    registry.register(fleet_actions)
    return Engine(url, registry=registry, lease_seconds=lease_seconds)


def prepare(url: str, lease_seconds: float) -> Engine:
    """Migrate the schema, create the sink tables, publish the workloads' workflows (not the
    schedule: a test publishes it when its workers are up)."""
    os.environ[fleet_actions.SINK_ENV] = sink_url(url)
    engine = make_engine(url, lease_seconds)
    with psycopg.connect(sink_url(url), autocommit=True) as conn:
        conn.execute(fleet_actions.SINK_DDL)
    engine.publish(w1_definition())
    engine.publish(parked_definition())
    return engine


class Fleet:
    """Worker processes on one database, killed and restarted at will."""

    def __init__(
        self, url: str, log_path: Path, lease_seconds: float, concurrency: int | None = None
    ) -> None:
        self.url = url
        self.lease_seconds = lease_seconds
        self.args = [str(lease_seconds)] + ([str(concurrency)] if concurrency else [])
        self.env = {
            **os.environ,
            fleet_actions.SINK_ENV: sink_url(url),
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        }
        self.log: BinaryIO = log_path.open("ab")
        self.log_path = log_path
        self.workers: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()
        self.started: set[int] = set()
        self.up: set[int] = set()

    def spawn(self) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [sys.executable, str(HERE / "fleet_worker.py"), self.url, *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.started.add(worker.pid)
        return worker

    def start(self, count: int, *, wait_ready: bool = True) -> None:
        new = [self.spawn() for _ in range(count)]
        if wait_ready:
            for worker in new:
                assert worker.stdout is not None
                assert worker.stdout.readline().strip() == b"ready", self.tail()
                self.up.add(worker.pid)
        self.workers += new

    def kill_random(self, rng: random.Random) -> int:
        """SIGKILL one worker and start a new one in its place; returns the killed pid. The
        victim is drawn from the workers that are up (said ``ready``), so that kills land in
        the middle of work rather than in a process's start-up, when any is up."""
        up = [i for i, worker in enumerate(self.workers) if self._ready(worker)]
        index = rng.choice(up) if up else rng.randrange(len(self.workers))
        victim = self.workers[index]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        self._close(victim)
        self.killed.add(victim.pid)
        self.workers[index] = self.spawn()
        return victim.pid

    def _ready(self, worker: subprocess.Popen[bytes]) -> bool:
        if worker.pid in self.up:
            return True
        assert worker.stdout is not None
        if select.select([worker.stdout], [], [], 0)[0] and worker.stdout.readline():
            self.up.add(worker.pid)
            return True
        return False

    def stop(self) -> None:
        """SIGTERM every worker (a graceful stop), SIGKILL what does not stop in time."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(10)
            self._close(worker)
        self.workers = []
        self.log.close()

    def dead(self) -> list[int]:
        """Workers that exited on their own (a worker must survive database trouble)."""
        return [w.pid for w in self.workers if w.poll() is not None]

    def tail(self, chars: int = 3000) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    @staticmethod
    def _close(worker: subprocess.Popen[bytes]) -> None:
        if worker.stdout is not None:
            worker.stdout.close()


# ---------------------------------------------------------------------------- driving runs


def start_runs(engine: Engine, workflow: str, count: int) -> list[str]:
    return [engine.start(workflow, {}) for _ in range(count)]


def start_many(engine: Engine, count: int, batch: int = 500) -> list[str]:
    """Start ``count`` W1 runs, ``batch`` per transaction (events that trigger them): the work
    appears in large chunks that every worker competes for."""
    started: list[str] = []
    while len(started) < count:
        size = min(batch, count - len(started))
        outcomes = engine.send_events([{"name": "w1.go", "payload": {}} for _ in range(size)])
        started += [run for outcome in outcomes for run in outcome.started]
    return started


@dataclass(slots=True)
class Frozen:
    """A canceled run as it was right after the cancel returned."""

    claim_count: int
    history: int


def cancel(engine: Engine, run_id: str) -> Frozen | None:
    """Cancel a run and remember its fence and history length: neither may grow afterwards.
    None when the run had already finished (then it is not a canceled run)."""
    if engine.cancel(run_id)["status"] != "CANCELED":
        return None
    with engine.db.read() as conn:
        claim_count = conn.execute(
            sa.select(t.runs.c.claim_count).where(t.runs.c.id == run_id)
        ).scalar_one()
        history = conn.execute(
            sa.select(sa.func.count())
            .select_from(t.step_history)
            .where(t.step_history.c.run_id == run_id)
        ).scalar_one()
    return Frozen(claim_count, history)


def unfinished(engine: Engine, run_ids: list[str]) -> int:
    with engine.db.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(t.runs)
                .where(t.runs.c.id.in_(run_ids), t.runs.c.finished_at.is_(None))
            ).scalar_one()
        )


def wait_finished(engine: Engine, run_ids: list[str], timeout: float) -> float:
    """Seconds until every run in ``run_ids`` is terminal (or ``timeout``, whichever first)."""
    began = time.monotonic()
    # Past ``timeout`` the audit that follows names the runs left unfinished, and why.
    with contextlib.suppress(AssertionError):
        wait_until(lambda: not unfinished(engine, run_ids), "the runs", seconds=timeout, every=0.1)
    return time.monotonic() - began


# ---------------------------------------------------------------------------- the audit


@dataclass
class Audit:
    runs: int = 0
    succeeded: int = 0
    canceled: int = 0
    lost: list[str] = field(default_factory=list)
    """Runs that should have succeeded and did not."""
    revived: list[str] = field(default_factory=list)
    """Canceled runs claimed again, given new history, or not CANCELED at the end."""
    step_anomalies: list[tuple[str, str, int]] = field(default_factory=list)
    """(run, step, successful attempts) of finished runs where that is not exactly 1."""
    timer_anomalies: list[tuple[str, int]] = field(default_factory=list)
    """(run, timers fired) of finished W1 runs where that is not exactly 1."""
    keys: int = 0
    keys_per_run: Counter[str] = field(default_factory=Counter)
    deliveries_per_pid: Counter[int] = field(default_factory=Counter)
    duplicated: list[Any] = field(default_factory=list)
    """Side effects applied twice: one step of one run applied under two keys, or two
    deliveries of one key in flight at once."""
    redeliveries: int = 0
    """Handler calls beyond the first per key (the sink applied them once)."""
    after_kill: int = 0
    """Re-deliveries whose earlier delivery was made by a worker that was then SIGKILLed."""
    after_lapse: int = 0
    """Re-deliveries by a later claim of the run, the earlier worker alive: it lost its claim
    (its lease lapsed, e.g. starved of CPU or cut off from the database) before checkpointing
    the result — to the lease protocol that worker is dead."""
    within_claim: list[str] = field(default_factory=list)
    """Keys delivered twice under one claim of the run: never allowed."""
    ledger_calls_over_one: int = 0
    double_drives: list[Any] = field(default_factory=list)
    """A run's handler calls from two processes overlapping in time, or one claim (fence)
    seen from two processes, or a fence going backwards."""
    schedule_slots: list[str] = field(default_factory=list)
    duplicate_slots: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"runs={self.runs} succeeded={self.succeeded} canceled={self.canceled} "
            f"lost={len(self.lost)} duplicated={len(self.duplicated)} "
            f"redeliveries={self.redeliveries} "
            f"(after a kill {self.after_kill}, after a lapsed claim {self.after_lapse}, "
            f"within one claim {len(self.within_claim)}) "
            f"revived={len(self.revived)} double_drives={len(self.double_drives)} "
            f"step_anomalies={len(self.step_anomalies)} "
            f"timer_anomalies={len(self.timer_anomalies)} keys={self.keys} "
            f"schedule_slots={len(self.schedule_slots)} "
            f"duplicate_slots={len(self.duplicate_slots)} "
            f"workers_that_called={len(self.deliveries_per_pid)}"
        )


def audit(
    engine: Engine,
    expected: list[str],
    canceled: dict[str, Frozen],
    killed: set[int],
) -> Audit:
    """Read back what happened. ``expected``: runs that must succeed; ``canceled``: runs
    canceled by the test; ``killed``: pids of workers that were SIGKILLed."""
    result = Audit()
    with engine.db.read() as conn:
        runs = {
            row.id: row
            for row in conn.execute(
                sa.select(
                    t.runs.c.id,
                    t.runs.c.workflow_key,
                    t.runs.c.status,
                    t.runs.c.claim_count,
                    t.runs.c.idempotency_key,
                )
            )
        }
        successes = conn.execute(
            sa.select(t.step_history.c.run_id, t.step_history.c.step_id, sa.func.count())
            .where(t.step_history.c.status == "succeeded")
            .group_by(t.step_history.c.run_id, t.step_history.c.step_id)
        ).all()
        history = dict(
            conn.execute(
                sa.select(t.step_history.c.run_id, sa.func.count()).group_by(
                    t.step_history.c.run_id
                )
            ).all()
        )
        timers = dict(
            conn.execute(
                sa.select(t.waits.c.run_id, sa.func.count())
                .where(t.waits.c.kind == "timer", t.waits.c.status == "resolved")
                .group_by(t.waits.c.run_id)
            ).all()
        )
        ledger = conn.execute(sa.select(t.action_ledger.c.key, t.action_ledger.c.calls)).all()
        effects = conn.execute(
            sa.text("SELECT key, run_id, step_id, calls, applied FROM sink_effects")
        ).all()
        deliveries = conn.execute(
            sa.text("SELECT key, run_id, pid, fence, t0, t1 FROM sink_deliveries ORDER BY t0")
        ).all()
    result.runs = len(runs)
    statuses = Counter(row.status for row in runs.values())
    result.succeeded = statuses["SUCCEEDED"]
    result.canceled = statuses["CANCELED"]
    result.lost = [r for r in expected if runs[r].status != "SUCCEEDED"]
    for run_id, frozen in canceled.items():
        row = runs[run_id]
        if (
            row.status != "CANCELED"
            or row.claim_count != frozen.claim_count
            or history.get(run_id, 0) != frozen.history
        ):
            result.revived.append(run_id)

    counted = {(r, s): n for r, s, n in successes}
    # No step of any run succeeded twice; each step of a finished run succeeded once.
    result.step_anomalies = [(r, s, n) for (r, s), n in counted.items() if n > 1]
    for run_id, row in runs.items():
        if row.status != "SUCCEEDED":
            continue
        steps = W1_STEPS if row.workflow_key == "w1" else ("a1",)
        result.step_anomalies += [
            (run_id, step, 0) for step in steps if (run_id, step) not in counted
        ]
        if row.workflow_key == "w1" and timers.get(run_id, 0) != 1:
            result.timer_anomalies.append((run_id, timers.get(run_id, 0)))

    result.keys = len(effects)
    result.redeliveries = sum(row.calls - 1 for row in effects)
    result.ledger_calls_over_one = sum(1 for row in ledger if row.calls > 1)
    keys_per_step: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in effects:
        result.keys_per_run[row.run_id] += 1
        keys_per_step[(row.run_id, row.step_id)].add(row.key)
    result.duplicated = [("two keys", k, sorted(v)) for k, v in keys_per_step.items() if len(v) > 1]
    by_key: dict[str, list[Any]] = defaultdict(list)
    by_run: dict[str, list[Any]] = defaultdict(list)
    for d in deliveries:
        result.deliveries_per_pid[d.pid] += 1
        by_key[d.key].append(d)
        by_run[d.run_id].append(d)
    for key, items in by_key.items():
        ended = items[0].t1
        for earlier, later in itertools.pairwise(items):
            if later.t0 < ended:
                result.duplicated.append(("concurrent", key))
            ended = max(ended, later.t1)
            if earlier.pid in killed:
                result.after_kill += 1
            elif (earlier.pid, earlier.fence) != (later.pid, later.fence):
                result.after_lapse += 1
            else:
                result.within_claim.append(key)
    for run_id, items in by_run.items():
        result.double_drives += _double_drives(run_id, items)

    schedule_keys = [row.idempotency_key for row in runs.values() if row.workflow_key == "tick"]
    result.schedule_slots = sorted(k for k in schedule_keys if k)
    result.duplicate_slots = [k for k, n in Counter(schedule_keys).items() if n > 1]
    return result


def _double_drives(run_id: str, items: list[Any]) -> list[Any]:
    """Deliveries of one run (in start order) must come from one process at a time, each
    claim (fence) from a single process, and fences never go backwards."""
    found: list[Any] = []
    pid_of_fence: dict[int, int] = {}
    last_fence = -1
    for i, d in enumerate(items):
        if d.fence is not None:
            if pid_of_fence.setdefault(d.fence, d.pid) != d.pid:
                found.append(("fence from two processes", run_id, d.fence))
            if d.fence < last_fence:
                found.append(("fence went back", run_id, d.fence, last_fence))
            last_fence = max(last_fence, d.fence)
        for other in items[:i]:
            if other.pid != d.pid and d.t0 < other.t1:
                found.append(("overlap", run_id, other.pid, d.pid))
    return found


def describe(engine: Engine, run_id: str) -> dict[str, Any]:
    """Everything the database holds about a run: for the message of a failed assertion."""
    with engine.db.read() as conn:

        def rows(table: sa.Table, column: Any) -> list[dict[str, Any]]:
            found = conn.execute(sa.select(table).where(column == run_id)).mappings().all()
            return [{k: v for k, v in row.items() if k not in ("state", "input")} for row in found]

        return {
            "run": rows(t.runs, t.runs.c.id),
            "waits": rows(t.waits, t.waits.c.run_id),
            "inbox": rows(t.run_inbox, t.run_inbox.c.run_id),
            "ledger": rows(t.action_ledger, t.action_ledger.c.run_id),
            "history": [
                (h["step_id"], h["status"], str(h["recorded_at"]))
                for h in rows(t.step_history, t.step_history.c.run_id)
            ],
            "deliveries": [
                dict(d)
                for d in conn.execute(
                    sa.text("SELECT * FROM sink_deliveries WHERE run_id = :r ORDER BY t0"),
                    {"r": run_id},
                ).mappings()
            ],
        }
