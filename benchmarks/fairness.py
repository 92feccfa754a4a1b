"""Fairness benchmark (one command): ``python benchmarks/fairness.py [--db URL] [--hostile 1]``.

A hostile run (a forEach of 200 items, each spending its whole 50 ms expression budget, ~10 s
of CPU) is started first; then, while a worker thread drives it, a trivial run (one
``control.return``) is started from the main thread, as an API handler would. Printed: how long
``Engine.start`` of the trivial run took, how long until the trivial run finished, and how long
the hostile runs took, with the worker's counters.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from flowpin.engine import Engine

BURN = "($loop := function() { $loop() }; $loop())"
"""Never ends: stopped by the 50 ms time limit of every evaluation."""


def hostile(items: int = 200) -> dict[str, Any]:
    return {
        "key": "hostile",
        "steps": [
            {
                "id": "each",
                "type": "control.forEach",
                "items": {"$expr": f"[1..{items}]"},
                "body": [
                    {
                        "id": "burn",
                        "type": "transform.assign",
                        "onError": "continue",
                        "config": {"assign": {"vars.x": {"$expr": BURN}}},
                    }
                ],
            },
            {"id": "end", "type": "control.return", "output": "burnt"},
        ],
    }


TRIVIAL = {"key": "trivial", "steps": [{"id": "end", "type": "control.return", "output": "ok"}]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None)
    parser.add_argument("--hostile", type=int, default=1)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'fair.db'}"
        with Engine(url) as engine:
            engine.publish(hostile(args.items))
            engine.publish(TRIVIAL)
            bad = [engine.start("hostile", {}) for _ in range(args.hostile)]
            stop = threading.Event()
            result: dict[str, Any] = {}
            worker = threading.Thread(
                target=lambda: result.setdefault("w", engine.run_worker(stop=stop))
            )
            t0 = time.perf_counter()
            worker.start()
            time.sleep(0.5)  # the hostile runs are claimed and burning
            t1 = time.perf_counter()
            good = engine.start("trivial", {})
            started = time.perf_counter() - t1
            while engine.get_run(good)["status"] != "SUCCEEDED":
                time.sleep(0.005)
            trivial = time.perf_counter() - t1
            while any(engine.get_run(r)["status"] not in ("SUCCEEDED", "FAILED") for r in bad):
                time.sleep(0.05)
            total = time.perf_counter() - t0
            stop.set()
            worker.join()
            stats = result["w"].stats
            print(f"start of the trivial run: {started * 1000:.1f} ms")
            print(f"trivial run finished after: {trivial * 1000:.1f} ms")
            print(f"{args.hostile} hostile run(s) finished after: {total:.2f} s")
            print(f"worker: claimed {stats.claimed}, checkpoints {stats.checkpoints}")


if __name__ == "__main__":
    main()
