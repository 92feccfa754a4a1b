"""Bulk migration of runs in flight: ``python benchmarks/migrate.py [--db URL] [--runs 10000]``.

Parks ``--runs`` runs of a workflow on ``event.wait`` (started by events, 1,000 per
transaction, worked to their wait), publishes a v2 that inserts a step after the wait, then
times ``Engine.migrate`` from v1 to v2 for every active run: the dry run, then the apply.
Default database: a fresh SQLite file in a temporary directory. The issue's target: the apply
of 10,000 runs finishes in under a minute on SQLite.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from flowpin import Engine

BATCH = 1000


def definition(version: int) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {"id": "mark", "type": "transform.assign", "config": {"assign": {"vars.n": 1}}},
        {
            "id": "wait",
            "type": "event.wait",
            "config": {"eventName": "bench.go", "saveAs": "vars.go"},
        },
    ]
    if version == 2:
        steps.append(
            {"id": "extra", "type": "transform.assign", "config": {"assign": {"vars.v": 2}}}
        )
    steps.append({"id": "done", "type": "control.return", "output": {"$expr": "vars.n"}})
    trigger = {"type": "event", "eventName": "bench.start", "subject": {"$expr": "event.key"}}
    return {"key": "bench-migrate", "triggers": [trigger], "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None)
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'migrate.db'}"
        with Engine(url) as engine:
            engine.publish(definition(1))
            started = time.perf_counter()
            for first in range(0, args.runs, BATCH):
                keys = range(first, min(first + BATCH, args.runs))
                engine.send_events([{"name": "bench.start", "key": f"k{n}"} for n in keys])
            engine.run_worker(until_idle=True)
            print(f"parked {args.runs} runs in {time.perf_counter() - started:.1f} s")
            engine.publish(definition(2))
            for dry_run in (True, False):
                began = time.perf_counter()
                report = engine.migrate(
                    "bench-migrate", from_version=1, to_version=2, dry_run=dry_run
                )
                took = time.perf_counter() - began
                what = "dry run" if dry_run else "apply"
                print(
                    f"{what}: {report['summary']} in {took:.1f} s ({args.runs / took:,.0f} runs/s)"
                )


if __name__ == "__main__":
    main()
