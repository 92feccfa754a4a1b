"""Runtime benchmarks (one command): ``python benchmarks/runtime.py [--db URL] [--runs 200]``.

W1: runs × 10 sequential ``action.call`` steps with a trivial handler → action steps/s.
W1 cold-to-done: the same from a fresh process, starts included: ``engine.start`` in a loop (as
a user writes it; also once with one ``start_many``), then ``run_worker(until_idle=True)``,
timed from the first start until every run finished.
``--before SRC`` compares W1 cold-to-done with another checkout's ``src`` in alternating rounds.
W2: runs parked on ``event.wait``, then one event each → events/s until all complete.
W3: runs × 20 pure steps (``transform.assign``/``state.set``) → steps/s.

Each figure is printed with the physical limit measured in the same run: the raw single-row
INSERT+COMMIT rate of the same database with the same settings (for SQLite: WAL,
synchronous=NORMAL), and the ratio to it. A ratio above 1 means many steps share one commit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from workloads import increment, w1_definition, w2_definition, w3_definition

from flowpin.engine import Engine
from flowpin.registry.catalog import Registry
from flowpin.store.database import Database


def w2(engine: Engine, runs: int, mode: str) -> tuple[str, float, str]:
    """Park ``runs`` runs on event.wait, then send one event each; time until all complete.
    ``threads``: one ``send_event`` call per event from 16 threads at once (request handlers;
    concurrent calls share group commits). ``batch``: one ``send_events`` call."""
    ids = [engine.start("bench-w2", {}, subject=f"{mode}{i}") for i in range(runs)]
    engine.run_worker(until_idle=True)
    t0 = time.perf_counter()
    if mode == "threads":
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: engine.send_event("bench.go", f"{mode}{i}"), range(runs)))
    else:
        engine.send_events([{"name": "bench.go", "key": f"{mode}{i}"} for i in range(runs)])
    submitted = time.perf_counter() - t0
    engine.run_worker(until_idle=True)
    elapsed = time.perf_counter() - t0
    done = sum(engine.get_run(i)["status"] == "SUCCEEDED" for i in ids)
    assert done == runs, f"W2: only {done} of {runs} runs succeeded"
    return (
        f"W2 events/s, {mode} (submit→done)",
        runs / elapsed,
        f"{runs} in {elapsed:.2f}s (submitting {submitted:.2f}s)",
    )


def raw_commit_rate(url: str, seconds: float = 1.5) -> float:
    """Single-row INSERT + COMMIT per transaction, same database, same connection settings."""
    db = Database(url)
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_raw (id INTEGER, v TEXT)")
    count = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        with db.write() as conn:
            conn.execute(sa.text("INSERT INTO bench_raw (id, v) VALUES (:i, 'x')"), {"i": count})
        count += 1
    elapsed = time.perf_counter() - start
    with db.write() as conn:
        conn.exec_driver_sql("DROP TABLE bench_raw")
    db.dispose()
    return count / elapsed


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pure_or_action(engine: Engine, runs: int, workload: str) -> tuple[str, float, str]:
    """W1 (10 action steps per run) or W3 (20 pure steps per run), from start to all done."""
    key, steps = ("bench-w1", 10) if workload == "W1" else ("bench-w3", 20)
    ids = [engine.start(key, {}) for _ in range(runs)]
    t0 = time.perf_counter()
    engine.run_worker(until_idle=True)
    elapsed = time.perf_counter() - t0
    done = sum(engine.get_run(i)["status"] == "SUCCEEDED" for i in ids)
    assert done == runs, f"{workload}: only {done} of {runs} runs succeeded"
    name = "W1 action steps/s" if workload == "W1" else "W3 pure steps/s"
    return (name, runs * steps / elapsed, f"{runs}×{steps} in {elapsed:.2f}s")


def cold_to_done(url: str, runs: int, many: bool) -> dict[str, float]:
    """In this (fresh) process: ``runs`` W1 starts, then a worker until all are done."""
    registry = Registry()
    registry.register(increment)
    engine = Engine(url, registry=registry, upgrade=False)
    t0 = time.perf_counter()
    if many:
        items = [{"workflow": "bench-w1", "payload": {}} for _ in range(runs)]
        ids = [getattr(outcome, "run_id", "") for outcome in engine.start_many(items)]
    else:
        ids = [engine.start("bench-w1", {}) for _ in range(runs)]
    starting = time.perf_counter() - t0
    engine.run_worker(until_idle=True)
    elapsed = time.perf_counter() - t0
    succeeded = sum(engine.get_run(run_id)["status"] == "SUCCEEDED" for run_id in ids)
    engine.close()
    return {"elapsed": elapsed, "starting": starting, "succeeded": succeeded}


def publish_w1(url: str) -> None:
    """Run by ``--publish`` in a process of the flowpin being measured (``--before``)."""
    registry = Registry()
    registry.register(increment)
    with Engine(url, registry=registry) as engine:
        engine.publish(w1_definition())


def cold_w1(
    url: str | None, runs: int, many: bool, source: str | None = None
) -> tuple[str, float, str]:
    """W1 cold-to-done: a fresh process (on a fresh SQLite file unless ``url``) runs
    ``cold_to_done``; the workflow is published before it starts. ``source``: the ``src``
    folder of another flowpin checkout to measure instead of this one (``--before``)."""
    tmp = tempfile.mkdtemp(prefix="flowpin-cold-")
    url = url or f"sqlite:///{os.path.join(tmp, 'cold.db')}"
    env = {**os.environ, "PYTHONPATH": source} if source else None
    if source:
        subprocess.run([sys.executable, __file__, "--publish", "--db", url], env=env, check=True)
    else:
        publish_w1(url)
    mode = "many" if many else "loop"
    done = subprocess.run(
        [sys.executable, __file__, "--cold", mode, "--db", url, "--runs", str(runs)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["succeeded"] == runs, f"W1 cold: {got['succeeded']} of {runs} runs succeeded"
    how = "start_many" if many else "start loop"
    per_start = got["starting"] / runs * 1000
    return (
        f"W1 cold-to-done, {how}" + (" (before)" if source else ""),
        runs * 10 / got["elapsed"],
        f"{runs}×10 in {got['elapsed']:.2f}s, starts {per_start:.2f} ms each, fresh process",
    )


def cold_against(before: str, runs: int, repeat: int, many: bool) -> list[tuple[str, float, str]]:
    """W1 cold-to-done of this flowpin and of ``before``, in alternating rounds (a machine's
    speed moves from minute to minute, and by more between days than any one change): the
    ratio of the two medians compares code, whatever the machine's speed."""
    now: list[tuple[str, float, str]] = []
    then: list[tuple[str, float, str]] = []
    for _ in range(repeat):
        now.append(cold_w1(None, runs, many))
        then.append(cold_w1(None, runs, many, source=before))
    rows = [median_of_samples(now), median_of_samples(then)]
    rows.append(("  this / before", rows[0][1] / rows[1][1], "ratio of the medians"))
    return rows


def median_of(repeat: int, measure: Callable[[], tuple[str, float, str]]) -> tuple[str, float, str]:
    """The median of ``repeat`` measurements (a 0.4 s workload on a shared machine varies by
    ±20 % from one run to the next); the detail names the spread."""
    return median_of_samples([measure() for _ in range(repeat)])


def median_of_samples(samples: list[tuple[str, float, str]]) -> tuple[str, float, str]:
    ordered = sorted(samples, key=lambda sample: sample[1])
    name, rate, detail = ordered[len(ordered) // 2]
    if len(ordered) > 1:
        detail += f"; median of {len(ordered)}, {ordered[0][1]:,.0f}–{ordered[-1][1]:,.0f}"
    return name, rate, detail


def run_benchmarks(url: str, runs: int, repeat: int = 5) -> list[tuple[str, float, str]]:
    registry = Registry()
    registry.register(increment)
    engine = Engine(url, registry=registry)
    for definition in (w1_definition(), w2_definition(), w3_definition()):
        engine.publish(definition)
    results: list[tuple[str, float, str]] = []
    # A worker runs for days: measure it warm (statements compiled and cached, code paths
    # imported), as it is after its first few runs, not its first second.
    for key in ("bench-w1", "bench-w3"):
        for _ in range(20):
            engine.start(key, {})
    engine.run_worker(until_idle=True)

    results.append(median_of(repeat, lambda: pure_or_action(engine, runs, "W1")))
    results.append(median_of(repeat, lambda: w2(engine, runs, "threads")))
    results.append(median_of(repeat, lambda: w2(engine, runs, "batch")))
    results.append(median_of(repeat, lambda: pure_or_action(engine, runs, "W3")))
    results.append(parked_memory(engine))
    engine.close()
    return results


def parked_memory(engine: Engine, parked: int = 20_000) -> tuple[str, float, str]:
    """A worker's memory must not grow with the number of parked runs: it never loads them.
    Park ``parked`` runs, then measure the RSS growth of a worker pass over the database."""
    for i in range(parked):
        engine.start("bench-w2", {}, subject=f"parked-{i}")
    engine.run_worker(until_idle=True)  # parks them all
    before = current_rss_mb()
    for _ in range(5):
        engine.run_worker(until_idle=True)
    grown = current_rss_mb() - before
    return (f"RSS growth, {parked:,} parked runs", grown, "MB over 5 idle worker passes")


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5, help="report the median of N rounds")
    parser.add_argument(
        "--before",
        metavar="SRC",
        help="W1 cold-to-done (start loop) only, of this flowpin and of the one in this src "
        "folder, in alternating rounds, and the ratio",
    )
    parser.add_argument("--cold", choices=["loop", "many"], help=argparse.SUPPRESS)
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold:  # the fresh process of cold_w1
        print(json.dumps(cold_to_done(args.db, args.runs, args.cold == "many")))
        return
    if args.publish:  # the publishing process of cold_w1 for --before
        publish_w1(args.db)
        return
    if args.before:
        for name, rate, detail in cold_against(args.before, args.runs, args.repeat, False):
            print(f"{name:40} {rate:10,.2f}  {detail}")
        return
    tmp = tempfile.mkdtemp(prefix="flowpin-bench-")
    url = args.db or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
    physical = raw_commit_rate(url)
    results = [
        median_of(args.repeat, lambda: cold_w1(args.db, args.runs, many=False)),
        median_of(args.repeat, lambda: cold_w1(args.db, args.runs, many=True)),
    ]
    results += run_benchmarks(url, args.runs, args.repeat)
    print(f"database: {url.split('@')[-1]}")
    print(f"physical limit: raw single-row INSERT+COMMIT = {physical:,.0f}/s")
    print(f"{'workload':34} {'rate':>12} {'× raw commit':>13}  detail")
    for name, rate, detail in results:
        if name.startswith("RSS"):
            print(f"{name:34} {rate:12,.1f} {'':13}  {detail}")
        else:
            print(f"{name:34} {rate:12,.0f} {rate / physical:13.2f}  {detail}")
    print(f"peak RSS: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
