"""``/metrics`` on a port of its own (``--metrics-port``), for ``flowpin serve`` and
``flowpin worker``: the process's counters and histograms (``observability.metrics``) and gauges
of the queue read from the database at each scrape (``store.queue``), not kept by the hot path.

Why not on the API port: API keys belong to tenants, and an admin key is the admin of one
tenant, while the metrics label every tenant's workflows. The operator of the deployment
decides who reaches the metrics port; it listens on 127.0.0.1 unless ``--metrics-host`` says
otherwise.

It lives in the engine's layer because it reads through the store and a ``WorkerDeps``
(database, clock); ``observability`` itself stays a bottom layer every other one may record
into."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from flowpin.observability.metrics import REGISTRY
from flowpin.store.queue import queue_state
from flowpin.worker.deps import WorkerDeps


class QueueCollector(Collector):
    """The queue as the database holds it, for one engine's database."""

    def __init__(self, core: WorkerDeps) -> None:
        self.core = core

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.core.clock.now()
        with self.core.db.read() as conn:
            state = queue_state(conn, now)
        age = 0.0
        if state.oldest_due_at is not None:
            age = max(0.0, (now - state.oldest_due_at).total_seconds())
        yield GaugeMetricFamily(
            "flowpin_runs_due", "Runs due now that no worker holds (queue depth).", value=state.due
        )
        yield GaugeMetricFamily(
            "flowpin_runs_due_oldest_age_seconds",
            "How long the longest-waiting due, unclaimed run has been due (0: none).",
            value=age,
        )
        yield GaugeMetricFamily(
            "flowpin_runs_lease_expired",
            "Runs still held under an expired lease: their worker died or stalled; the next "
            "claim takes them over.",
            value=state.lease_expired,
        )


class _Process(Collector):
    """The process's own metrics (``metrics.REGISTRY``), inside a scrape's registry."""

    def collect(self) -> Iterator[Any]:
        return REGISTRY.collect()


def registry_for(core: WorkerDeps) -> CollectorRegistry:
    """What a scrape of this process returns: its counters and histograms, and the queue
    gauges of ``core``'s database."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Process())
    registry.register(QueueCollector(core))
    return registry


@dataclass(slots=True)
class MetricsServer:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(core: WorkerDeps, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``GET /metrics`` on ``host:port`` (port 0: a free one) from a daemon thread."""
    server, thread = start_http_server(port, addr=host, registry=registry_for(core))
    return MetricsServer(server, thread)
