"""Options shared by the long-running commands (``serve``, ``worker``): the metrics port."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from flowpin.cli.problems import CliProblem

MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        metavar="PORT",
        min=0,
        max=65535,
        help="Serve Prometheus metrics at http://HOST:PORT/metrics (not on the API port).",
    ),
]
MetricsHostOption = Annotated[
    str,
    typer.Option("--metrics-host", metavar="ADDRESS", help="Address the metrics port listens on."),
]


def start_metrics(engine: Any, port: int | None, host: str) -> Any:
    """The metrics server of ``--metrics-port`` (None without it); a busy port is one line."""
    if port is None:
        return None
    from flowpin.observability.exposition import serve_metrics

    try:
        server = serve_metrics(engine.core, port, host)
    except OSError as exc:
        raise CliProblem(
            f"cannot listen on {host}:{port} for metrics: {exc.strerror or exc}; "
            "choose another --metrics-port"
        ) from None
    return server
