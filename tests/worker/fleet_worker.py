"""One worker process of the fleet: ``python fleet_worker.py DB_URL LEASE_SECONDS
[CONCURRENCY]``. Prints ``ready`` once its engine is up, then works until killed or sent
SIGTERM. A small CONCURRENCY spreads a backlog over the fleet (a worker claims at most that
many runs, an eighth of it per claim)."""

from __future__ import annotations

import signal
import sys
import threading

import fleet_actions

from flowpin.engine import Engine
from flowpin.registry.catalog import Registry
from flowpin.worker.loop import WorkerOptions

if __name__ == "__main__":
    lease = float(sys.argv[2])
    registry = Registry()
    registry.register(fleet_actions)
    engine = Engine(sys.argv[1], registry=registry, lease_seconds=lease, upgrade=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    options = WorkerOptions(lease_seconds=lease, poll_seconds=0.2)
    if len(sys.argv) > 3:
        options.concurrency = int(sys.argv[3])
        options.claim_batch = max(1, options.concurrency // 8)
    engine.run_worker(options=options, stop=stop)
    engine.close()
