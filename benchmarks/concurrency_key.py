"""What a concurrency key costs: ``python benchmarks/concurrency_key.py [--db URL] [--runs 400]
[--keys 40]``.

The W1 workflow (10 sequential action steps) twice: without a key, and with
``settings.concurrencyKey`` spreading the runs over ``--keys`` keys (each key's runs execute one
after another). Prints runs/s until all complete with one in-process worker, the median of 3,
and what an idle worker's pass costs (the claim, the guarded-workflows query and the next
wake-up query, over 200 passes): with nothing due, then with ``--queued`` runs queued behind 10
runs of their keys that wait for a person.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from workloads import increment, w1_definition

from flowpin.engine import Engine
from flowpin.registry.catalog import Registry
from flowpin.store import claims


def _definition(keyed: bool) -> dict[str, Any]:
    definition = w1_definition()
    definition["key"] = "bench-keyed" if keyed else "bench-unkeyed"
    if keyed:
        definition["settings"] = {"concurrencyKey": {"$expr": "payload.thread"}}
    return definition


def _pass(engine: Engine, keyed: bool, runs: int, keys: int) -> float:
    definition = _definition(keyed)
    ids = [engine.start(definition["key"], {"thread": f"t{n % keys}"}) for n in range(runs)]
    started = time.perf_counter()
    engine.run_worker(until_idle=True)
    elapsed = time.perf_counter() - started
    done = sum(engine.get_run(run_id)["status"] == "SUCCEEDED" for run_id in ids)
    assert done == runs, f"only {done} of {runs} runs succeeded"
    return runs / elapsed


def _idle_claim_seconds(engine: Engine, passes: int = 200) -> float:
    started = time.perf_counter()
    for _ in range(passes):
        with engine.db.write() as conn:
            claims.claim_runs(conn, "bench", engine.clock.now(), 30.0, 128)
        with engine.db.read() as conn:
            claims.next_wakeup(conn, engine.clock.now())
    return (time.perf_counter() - started) / passes


HELD = {
    "key": "bench-held",
    "settings": {"concurrencyKey": {"$expr": "payload.thread"}},
    "steps": [
        {
            "id": "ask",
            "type": "human.task",
            "config": {"title": "x", "formSchema": {"type": "object"}, "timeoutMs": 3_600_000},
        }
    ],
}


def _queue_behind_waiting_runs(engine: Engine, queued: int) -> None:
    engine.publish(HELD)
    for n in range(queued + 10):  # the first run of each of 10 keys waits, the rest queue
        engine.start("bench-held", {"thread": f"t{n % 10}"})
    engine.run_worker(until_idle=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--keys", type=int, default=40)
    parser.add_argument("--queued", type=int, default=1000)
    args = parser.parse_args()
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    registry = Registry()
    registry.register(increment)
    with Engine(url, registry=registry) as engine:
        for keyed in (False, True):
            engine.publish(_definition(keyed))
        rates = {
            keyed: statistics.median(_pass(engine, keyed, args.runs, args.keys) for _ in range(3))
            for keyed in (False, True)
        }
        idle = _idle_claim_seconds(engine)
        _queue_behind_waiting_runs(engine, args.queued)
        idle_queued = _idle_claim_seconds(engine)
    print(f"{args.runs} runs × 10 action steps, one worker, median of 3 ({url.split('@')[-1]})")
    print(f"without a key             {rates[False]:8,.0f} runs/s")
    print(f"{args.keys} keys, one at a time   {rates[True]:8,.0f} runs/s")
    print(f"idle claim + next wake-up {idle * 1000:8.2f} ms")
    print(f"  with {args.queued} runs queued  {idle_queued * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
