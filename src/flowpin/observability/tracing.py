"""OpenTelemetry traces, when the ``otel`` extra is installed (``pip install 'flowpin[otel]'``)
and the process has a tracer provider (``opentelemetry-instrument flowpin serve``, or an
application that sets one). Without the SDK nothing is imported and every helper here is a
no-op; without a provider the API's default does nothing, and flowpin skips its work.

The chain of a run: the API request's span (FastAPI makes it, continuing the caller's
``traceparent``, when a provider is set) → the run keeps the W3C ``traceparent`` of the span
that started it in its state (``tp``) → the worker's spans for the
claim, each step and each action call are its children → ``http.request@1`` sends the action
call's ``traceparent`` onward (``ActionContext.traceparent``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

ATTRIBUTES = ("flowpin.run_id", "flowpin.workflow", "flowpin.version", "flowpin.step_id")


@cache
def installed() -> bool:
    """Whether the OpenTelemetry SDK (the ``otel`` extra) is installed."""
    try:
        return importlib.util.find_spec("opentelemetry.sdk") is not None
    except (ImportError, ValueError):  # a parent missing, or blocked in sys.modules
        return False


def tracer() -> Any:
    """flowpin's tracer, or None when no spans would be recorded (checked per call: a provider
    may be set after flowpin is imported). Asked for every step and action call, so the common
    answer is quick: no provider set (``trace._TRACER_PROVIDER`` still None) and none named in
    the environment (read once; ``get_tracer_provider`` read ``os.environ`` on every call,
    measured ~3 % of a trivial action step).

    Nor is the API imported before it can matter: a provider is set through
    ``opentelemetry.trace``, so while nothing in the process has imported that module and the
    environment names no provider, none is set (importing it cost ~10 ms of a fresh process's
    first start)."""
    if "opentelemetry.trace" not in sys.modules and not _provider_named():
        return None
    trace = _trace_api()
    if trace is None:
        return None
    if getattr(trace, "_TRACER_PROVIDER", _UNKNOWN) is None and not _provider_named():
        return None
    from opentelemetry.trace import ProxyTracerProvider

    provider = trace.get_tracer_provider()
    if isinstance(provider, ProxyTracerProvider):
        return None
    return provider.get_tracer("flowpin")


@cache
def _trace_api() -> Any:
    """``opentelemetry.trace``, or None without the SDK (imported once, not per call)."""
    if not installed():
        return None
    from opentelemetry import trace

    return trace


_UNKNOWN = object()
"""``trace._TRACER_PROVIDER`` of an OpenTelemetry API without it: ask the public function."""


@cache
def _provider_named() -> bool:
    """Whether the environment names a tracer provider (``OTEL_PYTHON_TRACER_PROVIDER``), which
    ``get_tracer_provider`` loads on its first call. (The variable's name, as
    ``opentelemetry.environment_variables`` spells it: read without importing the API.)"""
    return "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the span active here (None without one)."""
    if tracer() is None:
        return None
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> Any:
    """An OpenTelemetry context whose parent is ``traceparent`` (None: a new trace)."""
    from opentelemetry import propagate

    return propagate.extract({"traceparent": traceparent} if traceparent else {})


def traceparent_of(span: Any) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def run_attributes(run_id: str, workflow: str, version: int, step_id: str | None = None) -> dict:
    values = (run_id, workflow, version, step_id)
    return {
        name: value for name, value in zip(ATTRIBUTES, values, strict=True) if value is not None
    }


def start_span(name: str, traceparent: str | None, attributes: Mapping[str, Any]) -> Any:
    """A started span under ``traceparent`` (end it yourself), or None when not tracing."""
    found = tracer()
    if found is None:
        return None
    return found.start_span(name, context=context_of(traceparent), attributes=dict(attributes))


def record_span(
    name: str,
    traceparent: str | None,
    attributes: Mapping[str, Any],
    start: datetime,
    end: datetime,
    error: str | None = None,
) -> None:
    """A span for something that already happened (a step, from its history entry)."""
    found = tracer()
    if found is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span = found.start_span(
        name,
        context=context_of(traceparent),
        attributes=dict(attributes),
        start_time=_ns(start),
    )
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end(end_time=_ns(max(start, end)))


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def end_span(span: Any, error: str | None = None) -> None:
    """End a span of ``start_span``; ``error`` marks it failed with that description."""
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, error))
    span.end()
