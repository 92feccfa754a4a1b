"""Runtime benchmarks (one command): ``python benchmarks/runtime.py [--db URL] [--runs 200]``.

W1: runs × 10 sequential ``action.call`` steps with a trivial handler → action steps/s.
W2: runs parked on ``event.wait``, then one event each → events/s until all complete.
W3: runs × 20 pure steps (``transform.assign``/``state.set``) → steps/s.

Each figure is printed with the physical limit measured in the same run: the raw single-row
INSERT+COMMIT rate of the same database with the same settings (for SQLite: WAL,
synchronous=NORMAL), and the ratio to it. A ratio above 1 means many steps share one commit.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from flowpin.engine import Engine
from flowpin.registry.actions import action
from flowpin.registry.catalog import Registry
from flowpin.store.database import Database


class Count(BaseModel):
    n: int = 0


@action("bench.increment", version=1, effect="idempotent")
def increment(data: Count) -> Count:
    return Count(n=data.n + 1)


def w1_definition(steps: int = 10) -> dict[str, Any]:
    return {
        "key": "bench-w1",
        "steps": [
            {
                "id": f"s{i}",
                "type": "action.call",
                "config": {
                    "actionId": "bench.increment",
                    "version": 1,
                    "inputMapping": {"n": {"$expr": "$exists(vars.c) ? vars.c.n : 0"}},
                    "saveAs": "vars.c",
                },
            }
            for i in range(steps)
        ],
        "output": {"$expr": "vars.c.n"},
    }


def w2_definition() -> dict[str, Any]:
    return {
        "key": "bench-w2",
        "steps": [
            {
                "id": "wait",
                "type": "event.wait",
                "config": {"eventName": "bench.go", "timeoutMs": 3_600_000, "saveAs": "vars.e"},
            },
            {"id": "done", "type": "state.set", "config": {"state": "DONE"}},
        ],
    }


def w3_definition(steps: int = 20) -> dict[str, Any]:
    body: list[dict[str, Any]] = []
    for i in range(steps):
        if i % 2:
            body.append({"id": f"p{i}", "type": "state.set", "config": {"state": f"S{i}"}})
        else:
            body.append(
                {
                    "id": f"p{i}",
                    "type": "transform.assign",
                    "config": {"assign": {f"vars.v{i}": {"$expr": f"{i} + 1"}}},
                }
            )
    return {"key": "bench-w3", "steps": body}


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


def run_benchmarks(url: str, runs: int) -> list[tuple[str, float, str]]:
    registry = Registry()
    registry.register(increment)
    engine = Engine(url, registry=registry)
    for definition in (w1_definition(), w2_definition(), w3_definition()):
        engine.publish(definition)
    results: list[tuple[str, float, str]] = []

    ids = [engine.start("bench-w1", {}) for _ in range(runs)]
    t0 = time.perf_counter()
    engine.run_worker(until_idle=True)
    elapsed = time.perf_counter() - t0
    done = sum(engine.get_run(i)["status"] == "SUCCEEDED" for i in ids)
    assert done == runs, f"W1: only {done} of {runs} runs succeeded"
    results.append(("W1 action steps/s", runs * 10 / elapsed, f"{runs}×10 in {elapsed:.2f}s"))

    results.append(w2(engine, runs, "threads"))
    results.append(w2(engine, runs, "batch"))

    ids = [engine.start("bench-w3", {}) for _ in range(runs)]
    t0 = time.perf_counter()
    engine.run_worker(until_idle=True)
    elapsed = time.perf_counter() - t0
    done = sum(engine.get_run(i)["status"] == "SUCCEEDED" for i in ids)
    assert done == runs, f"W3: only {done} of {runs} runs succeeded"
    results.append(("W3 pure steps/s", runs * 20 / elapsed, f"{runs}×20 in {elapsed:.2f}s"))
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
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="flowpin-bench-")
    url = args.db or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
    physical = raw_commit_rate(url)
    results = run_benchmarks(url, args.runs)
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
