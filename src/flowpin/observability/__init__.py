"""What an operator sees of a running flowpin process: Prometheus metrics (``metrics``), log
formats (``logs``) and, with the ``otel`` extra, OpenTelemetry traces (``tracing``).

A bottom layer, beside ``types``, ``errors`` and ``clock``: the store, the worker and the engine
record into it, and it imports no flowpin layer. What reads the database for a scrape (the
queue gauges) and serves ``/metrics`` is ``engine.metrics_port``; the start-up line is the
CLI's."""
