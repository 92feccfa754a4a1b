"""``/metrics`` on a port of its own (``--metrics-port``), for ``flowpin serve`` and
``flowpin worker``.

Why not on the API port: API keys belong to tenants, and an admin key is the admin of one
tenant, while the metrics label every tenant's workflows. The operator of the deployment
decides who reaches the metrics port; it listens on 127.0.0.1 unless ``--metrics-host`` says
otherwise."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector

from flowpin.observability.metrics import REGISTRY
from flowpin.observability.queue import QueueCollector

if TYPE_CHECKING:
    from flowpin.worker.deps import WorkerDeps


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
