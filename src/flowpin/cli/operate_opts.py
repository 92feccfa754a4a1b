"""Options shared by the long-running commands (``serve``, ``worker``): the metrics port and
the log format."""

from __future__ import annotations

import logging
from enum import StrEnum
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


class LogFormat(StrEnum):
    text = "text"
    json = "json"


LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="Log lines on stderr as text, or as one JSON object per line (run_id, step_id, "
        "workflow as fields).",
    ),
]


def start_logging(engine: Any, log_format: LogFormat, role: str) -> None:
    """Configure logging and log the start-up line (version, database, actions loaded)."""
    from flowpin import __version__
    from flowpin.observability import logs

    logs.configure(log_format.value)
    actions = sorted(f"{spec.action_id}@{spec.version}" for spec in engine.registry.actions())
    logging.getLogger("flowpin").info(
        "flowpin %s %s starting: database %s; %d actions loaded: %s",
        __version__,
        role,
        logs.safe_url(engine.deps.db.url),
        len(actions),
        ", ".join(actions) or "none",
    )


def start_metrics(engine: Any, port: int | None, host: str) -> Any:
    """The metrics server of ``--metrics-port`` (None without it); a busy port is one line."""
    if port is None:
        return None
    from flowpin.engine.metrics_port import serve_metrics

    try:
        server = serve_metrics(engine.deps, port, host)
    except OSError as exc:
        raise CliProblem(
            f"cannot listen on {host}:{port} for metrics: {exc.strerror or exc}; "
            "choose another --metrics-port"
        ) from None
    return server
