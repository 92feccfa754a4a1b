"""PostgreSQL benchmarks: ``python benchmarks/postgres.py [--db URL] [--workers 1,4]``.

For each worker count N, in a fresh database ``flowpin_bench`` on the server of ``--db``, with N
``flowpin worker`` processes (the real CLI, actions from ``workloads.py``):

* W1: runs × 10 sequential ``action.call`` steps (trivial handler) → action steps/s;
* W2: runs parked on ``event.wait``, then one event each (batches of 100) → events/s;
* W3: runs × 20 pure steps → steps/s;
* event→resume latency: events sent one at a time to parked runs while the workers run; from
  the moment ``send_event`` is called to the run's completion (its next checkpoint), p50/p99;
* timer latency: runs parked on ``time.wait`` due at known moments 3–6 s ahead; the wait's
  ``resolved_at − due_at`` (fire) and the run's ``finished_at − due_at`` (resumed), p50/p99.

Each throughput is printed next to the physical limits measured in the same run with N clients:
the raw single-row INSERT+COMMIT rate and ``pgbench -N`` TPS (scratch database
``flowpin_pgbench``), and the ratios to them. Runs are created in one transaction (the clock
starts at its commit) so the figure is the workers' rate, not the client's.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from workloads import increment, w1_definition, w2_definition, w3_definition

HERE = Path(__file__).resolve().parent
DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Scratch databases are named for this run, so a run never drops a database it did not create
# (another run's, or one of yours that happens to share a name).
RUN_TAG = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
BENCH_DB = f"flowpin_bench_{RUN_TAG}"
PGBENCH_DB = f"flowpin_pgbench_{RUN_TAG}"


def timer_definition() -> dict[str, Any]:
    return {
        "key": "bench-timer",
        "steps": [
            {"id": "nap", "type": "time.wait", "config": {"until": {"$expr": "payload.due"}}},
            {"id": "done", "type": "state.set", "config": {"state": "DONE"}},
        ],
    }


# --------------------------------------------------------------------------- databases


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def with_database(url: str, name: str) -> str:
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False)


def recreate_database(url: str, name: str) -> str:
    """Create the scratch database ``name`` (unique to this run) on the server of ``url``;
    returns its URL. A name that exists is an error, never dropped."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load() -> str:
    """The machine's load average, printed next to each figure (other work shares the cores)."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


# --------------------------------------------------------------------------- workers


@contextmanager
def worker_processes(url: str, count: int, actions: str | None = "workloads") -> Iterator[None]:
    """``count`` ``flowpin worker`` processes on ``url``; returns once each one LISTENs."""
    env = dict(os.environ, PYTHONPATH=str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    flowpin = shutil.which("flowpin") or str(Path(sys.executable).parent / "flowpin")
    command = [flowpin, "worker", "--db", url]
    if actions:
        command += ["--actions", actions]
    procs = [subprocess.Popen(command, env=env) for _ in range(count)]
    try:
        database = sa.make_url(url).database
        deadline = time.monotonic() + 60
        while listening(url, database) < count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("workers did not start")
            time.sleep(0.1)
        yield
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def listening(url: str, database: str | None) -> int:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query LIKE 'LISTEN%%'",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


# --------------------------------------------------------------------------- bench client


@dataclass
class Client:
    """The benchmark's own engine (publishing, bulk starts, events, measuring)."""

    url: str

    def __post_init__(self) -> None:
        from flowpin.engine import Engine
        from flowpin.registry.catalog import Registry

        registry = Registry()
        registry.register(increment)
        self.engine = Engine(self.url, registry=registry)
        for definition in (
            w1_definition(),
            w2_definition({"$expr": "payload.k"}),
            w3_definition(),
            timer_definition(),
        ):
            self.engine.publish(definition)

    def start_many(self, workflow: str, payloads: list[dict[str, Any]]) -> tuple[list[str], float]:
        """Create runs in ONE transaction (as ``Engine.start`` would, row by row); returns their
        ids and the wall-clock time of the commit."""
        from flowpin.runtime.interpreter import start_state
        from flowpin.store import tables as t
        from flowpin.store.notify import signal_work
        from flowpin.store.workflows import version_row, workflow_row

        engine = self.engine
        now = datetime.now(UTC)
        ids = [str(uuid.uuid4()) for _ in payloads]
        with engine.db.write() as conn:
            wf = workflow_row(conn, engine.tenant, workflow)
            version = version_row(conn, wf.id, None)
            definition = engine.deps.definitions.definition_in(conn, version.id)
            rows = [
                {
                    "id": run_id,
                    "tenant_id": engine.tenant,
                    "workflow_id": wf.id,
                    "workflow_key": wf.key,
                    "version_id": version.id,
                    "version_number": version.number,
                    "subject": payload.get("k"),
                    "status": "PENDING",
                    "payload": payload,
                    "state": start_state(definition, payload),
                    "trigger": "manual",
                    "created_at": now,
                    "updated_at": now,
                    "wake_at": now,
                }
                for run_id, payload in zip(ids, payloads, strict=True)
            ]
            for start in range(0, len(rows), 1000):
                conn.execute(t.runs.insert(), rows[start : start + 1000])
            signal_work(conn)
        return ids, time.time()

    def wait_status(self, ids: list[str], statuses: tuple[str, ...], timeout: float) -> None:
        from flowpin.store import tables as t

        deadline = time.monotonic() + timeout
        condition = t.runs.c.status.in_(statuses)
        if "WAITING" in statuses:
            condition = sa.and_(condition, t.runs.c.lease_owner.is_(None))
        while True:
            with self.engine.db.read() as conn:
                done = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(t.runs)
                    .where(t.runs.c.id.in_(ids), condition)
                ).scalar_one()
            if done == len(ids):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {len(ids)} runs reached {statuses}")
            time.sleep(0.05)

    def finished_at(self, ids: list[str]) -> dict[str, float]:
        from flowpin.store import tables as t

        with self.engine.db.read() as conn:
            rows = conn.execute(
                sa.select(t.runs.c.id, t.runs.c.finished_at, t.runs.c.status).where(
                    t.runs.c.id.in_(ids)
                )
            ).all()
        failed = [row.id for row in rows if row.status != "SUCCEEDED"]
        if failed:
            raise RuntimeError(f"{len(failed)} runs did not succeed, e.g. {failed[0]}")
        return {row.id: row.finished_at.timestamp() for row in rows}

    def close(self) -> None:
        self.engine.close()


def throughput(
    client: Client, workflow: str, runs: int, steps: int, timeout: float = 600
) -> tuple[float, str]:
    ids, committed = client.start_many(workflow, [{} for _ in range(runs)])
    client.wait_status(ids, ("SUCCEEDED", "FAILED", "CANCELED"), timeout)
    elapsed = max(client.finished_at(ids).values()) - committed
    return runs * steps / elapsed, f"{runs}×{steps} in {elapsed:.2f}s"


def w2_throughput(client: Client, runs: int) -> tuple[float, str]:
    keys = [f"w2-{uuid.uuid4().hex[:8]}-{i}" for i in range(runs)]
    ids, _ = client.start_many("bench-w2", [{"k": k} for k in keys])
    client.wait_status(ids, ("WAITING",), 120)
    t0 = time.time()
    for start in range(0, runs, 100):
        batch = keys[start : start + 100]
        client.engine.send_events([{"name": "bench.go", "key": k} for k in batch])
    client.wait_status(ids, ("SUCCEEDED", "FAILED", "CANCELED"), 300)
    elapsed = max(client.finished_at(ids).values()) - t0
    return runs / elapsed, f"{runs} in {elapsed:.2f}s (batches of 100)"


def event_latency(client: Client, runs: int, gap: float = 0.01) -> tuple[list[float], list[float]]:
    """Milliseconds from calling ``send_event`` to the resumed run's completion, and of the
    ``send_event`` call itself (its transaction: the part before any worker can know)."""
    keys = [f"lat-{uuid.uuid4().hex[:8]}-{i}" for i in range(runs)]
    ids, _ = client.start_many("bench-w2", [{"k": k} for k in keys])
    client.wait_status(ids, ("WAITING",), 120)
    time.sleep(0.5)
    sent: dict[str, float] = {}
    submit: list[float] = []
    for run_id, key in zip(ids, keys, strict=True):
        sent[run_id] = time.time()
        outcome = client.engine.send_event("bench.go", key)
        submit.append((time.time() - sent[run_id]) * 1000)
        assert outcome.resumed == [run_id], outcome
        time.sleep(gap)
    client.wait_status(ids, ("SUCCEEDED", "FAILED", "CANCELED"), 60)
    finished = client.finished_at(ids)
    return [(finished[i] - sent[i]) * 1000 for i in ids], submit


def timer_latency(client: Client, runs: int) -> tuple[list[float], list[float]]:
    """Milliseconds from each timer's due time to its firing, and to its run's completion.
    Due times are spread 3–6 s ahead, one every few ms, while the workers are idle."""
    from flowpin.store import tables as t

    first = datetime.now(UTC) + timedelta(seconds=3)
    spacing = 3.0 / runs
    payloads = [
        {"due": (first + timedelta(seconds=i * spacing)).isoformat().replace("+00:00", "Z")}
        for i in range(runs)
    ]
    ids, _ = client.start_many("bench-timer", payloads)
    client.wait_status(ids, ("SUCCEEDED", "FAILED", "CANCELED"), 60)
    finished = client.finished_at(ids)
    with client.engine.db.read() as conn:
        rows = conn.execute(
            sa.select(t.waits.c.run_id, t.waits.c.due_at, t.waits.c.resolved_at).where(
                t.waits.c.run_id.in_(ids), t.waits.c.kind == "timer"
            )
        ).all()
    fire = [(r.resolved_at - r.due_at).total_seconds() * 1000 for r in rows]
    resumed = [(finished[r.run_id] - r.due_at.timestamp()) * 1000 for r in rows]
    return fire, resumed


# --------------------------------------------------------------------------- physical limits


def raw_commit_rate(url: str, clients: int, seconds: float = 3.0) -> float:
    """Single-row INSERT + COMMIT per transaction from ``clients`` connections at once."""
    dsn = libpq(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_raw (id INTEGER, v TEXT)")
    counts = [0] * clients
    stop = threading.Event()

    def client(index: int) -> None:
        with psycopg.connect(dsn) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO bench_raw (id, v) VALUES (%s, 'x')", (index,))
                conn.commit()
                counts[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_raw")
    return sum(counts) / elapsed


def pgbench_tps(url: str, clients: int, seconds: int = 5) -> float:
    """``pgbench -N`` (simple-update without branch/teller updates) in a scratch database."""
    scratch = sa.make_url(recreate_database(url, PGBENCH_DB))
    env = dict(os.environ)
    if scratch.password:
        env["PGPASSWORD"] = scratch.password
    conn_args = [
        "-h",
        scratch.host or "127.0.0.1",
        "-p",
        str(scratch.port or 5432),
        "-U",
        scratch.username or "postgres",
    ]
    try:
        subprocess.run(
            ["pgbench", *conn_args, "-i", "-q", "-s", "1", PGBENCH_DB],
            check=True,
            env=env,
            capture_output=True,
        )
        run_args = ["-N", "-c", str(clients), "-j", str(clients), "-T", str(seconds)]
        out = subprocess.run(
            ["pgbench", *conn_args, *run_args, PGBENCH_DB],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        drop_database(url, PGBENCH_DB)
    match = re.search(r"tps = ([\d.]+)", out)
    if not match:
        raise RuntimeError(f"no tps in pgbench output: {out}")
    return float(match.group(1))


# --------------------------------------------------------------------------- report


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Row:
    workers: int
    name: str
    value: float
    unit: str
    detail: str
    ratio: bool = True


def bench_workers(url: str, workers: int, runs: int, latency_runs: int) -> list[Row]:
    target = recreate_database(url, BENCH_DB)
    client = Client(target)
    rows: list[Row] = []
    try:
        with worker_processes(target, workers):
            rate, detail = throughput(client, "bench-w1", runs, 10)
            rows.append(Row(workers, "W1 action steps", rate, "/s", f"{detail}, {load()}"))
            rate, detail = w2_throughput(client, runs)
            rows.append(Row(workers, "W2 events", rate, "/s", f"{detail}, {load()}"))
            rate, detail = throughput(client, "bench-w3", runs, 20)
            rows.append(Row(workers, "W3 pure steps", rate, "/s", f"{detail}, {load()}"))
            lat, submit = event_latency(client, latency_runs)
            rows += latency_rows(workers, "event→resume", lat, "one event at a time")
            rows += latency_rows(workers, "  of which send_event", submit, "its transaction")
            fire, resumed = timer_latency(client, latency_runs)
            rows += latency_rows(workers, "timer fire−due", fire, "waits.resolved_at − due_at")
            rows += latency_rows(workers, "timer done−due", resumed, "run finished − due")
    finally:
        client.close()
        drop_database(url, BENCH_DB)
    return rows


def latency_rows(workers: int, name: str, values: list[float], detail: str) -> list[Row]:
    info = f"{len(values)} samples, {detail}, {load()}"
    return [
        Row(workers, f"{name} p50", pct(values, 0.5), "ms", info, ratio=False),
        Row(workers, f"{name} p99", pct(values, 0.99), "ms", info, ratio=False),
        Row(workers, f"{name} mean", statistics.fmean(values), "ms", info, ratio=False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=os.environ.get("FLOWPIN_BENCH_PG", DEFAULT_DB))
    parser.add_argument("--workers", default="1,4", help="worker process counts, e.g. 1,4")
    parser.add_argument("--runs", type=int, default=2000, help="runs per throughput workload")
    parser.add_argument("--latency-runs", type=int, default=200)
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    print(f"server: {args.db.split('@')[-1]}  cores: {os.cpu_count()}  {load()}")
    table: list[Row] = []
    limits: dict[int, tuple[float, float]] = {}
    for n in counts:
        raw = raw_commit_rate(args.db, n)
        tps = pgbench_tps(args.db, n)
        limits[n] = (raw, tps)
        print(f"{n} client(s): raw INSERT+COMMIT {raw:,.0f}/s, pgbench -N {tps:,.0f} tps")
        rows = bench_workers(args.db, n, args.runs, args.latency_runs)
        for row in rows:
            print(f"  {row.name:22} {row.value:10,.1f} {row.unit}  {row.detail}")
        table += rows
    print()
    print(
        f"{'workers':>7}  {'workload':22} {'value':>10} {'unit':4} {'× raw':>7} {'× pgbench':>9}"
        "  detail"
    )
    for row in table:
        raw, tps = limits[row.workers]
        ratios = f"{row.value / raw:7.2f} {row.value / tps:9.2f}" if row.ratio else " " * 17
        value = f"{row.value:10,.1f} {row.unit:4}"
        print(f"{row.workers:>7}  {row.name:22} {value} {ratios}  {row.detail}")
    for n, (raw, tps) in limits.items():
        print(f"{n} client(s): raw single-row INSERT+COMMIT {raw:,.0f}/s, pgbench -N {tps:,.0f}")


if __name__ == "__main__":
    main()
