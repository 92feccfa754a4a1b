"""What an operator sees of a running flowpin process: Prometheus metrics (``metrics``,
``exposition``), logs (``logs``) and, with the ``otel`` extra, OpenTelemetry traces."""
