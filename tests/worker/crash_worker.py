"""A worker process for the crash test: ``python crash_worker.py DB_URL``; runs until killed."""

from __future__ import annotations

import sys

import crash_actions

from flowpin.engine import Engine
from flowpin.registry.catalog import Registry
from flowpin.worker.loop import WorkerOptions

if __name__ == "__main__":
    registry = Registry()
    registry.register(crash_actions)
    engine = Engine(sys.argv[1], registry=registry, lease_seconds=1.0)
    print("ready", flush=True)
    engine.run_worker(options=WorkerOptions(lease_seconds=1.0, poll_seconds=0.1))
