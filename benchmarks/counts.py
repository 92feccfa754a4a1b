"""Per-step counts and the version diff over many runs in flight:
``python benchmarks/counts.py [--db URL] [--runs 10000]``.

Parks ``--runs`` runs of a workflow (started by events, 1,000 per transaction, worked to their
waits: half on an event, half on a day-long timer, a tenth in two parallel branches), publishes
a second version and saves a draft, then times ``Engine.step_counts`` and ``Engine.diff``
(median of 7). Default database: a fresh SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from flowpin import Engine

BATCH = 1000


def definition(label: str) -> dict[str, Any]:
    when = {"$expr": "payload.i % 10 = 0"}
    return {
        "key": "bench-counts",
        "triggers": [
            {"type": "event", "eventName": "bench.start", "subject": {"$expr": "event.key"}}
        ],
        "steps": [
            {"id": "mark", "type": "state.set", "config": {"state": label}},
            {
                "id": "route",
                "type": "control.if",
                "condition": when,
                "then": [
                    {
                        "id": "fan",
                        "type": "control.parallel",
                        "branches": [
                            {
                                "id": "l",
                                "steps": [
                                    {
                                        "id": "le",
                                        "type": "event.wait",
                                        "config": {"eventName": "go"},
                                    }
                                ],
                            },
                            {
                                "id": "r",
                                "steps": [
                                    {
                                        "id": "rt",
                                        "type": "time.wait",
                                        "config": {"durationMs": 86_400_000},
                                    }
                                ],
                            },
                        ],
                    }
                ],
                "else": [
                    {
                        "id": "split",
                        "type": "control.if",
                        "condition": {"$expr": "payload.i % 2 = 0"},
                        "then": [{"id": "ev", "type": "event.wait", "config": {"eventName": "go"}}],
                        "else": [
                            {"id": "tm", "type": "time.wait", "config": {"durationMs": 86_400_000}}
                        ],
                    }
                ],
            },
            {"id": "done", "type": "control.return", "output": {"$expr": "payload.i"}},
        ],
    }


def _median_ms(call: Any, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db")
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'counts.db'}"
        with Engine(url) as engine:
            engine.publish(definition("V1"))
            began = time.monotonic()
            for start in range(0, args.runs, BATCH):
                size = min(BATCH, args.runs - start)
                engine.send_events(
                    [
                        {
                            "name": "bench.start",
                            "key": f"k-{start + i}",
                            "payload": {"i": start + i},
                        }
                        for i in range(size)
                    ]
                )
            engine.run_worker(until_idle=True)
            parked = time.monotonic() - began
            engine.publish(definition("V2"))
            engine.save_draft({**definition("V3"), "steps": definition("V3")["steps"][:1]})
            counts = engine.step_counts("bench-counts")
            assert counts["byVersion"]["1"]["active"] == args.runs, counts["total"]
            counts_ms = _median_ms(lambda: engine.step_counts("bench-counts"))
            diff_ms = _median_ms(lambda: engine.diff("bench-counts", 1, "draft"))
        print(
            f"{args.runs} runs parked in {parked:.1f}s; step_counts {counts_ms:.1f} ms, "
            f"diff v1→draft {diff_ms:.1f} ms (median of 7) on {url.split(':')[0]}"
        )


if __name__ == "__main__":
    main()
