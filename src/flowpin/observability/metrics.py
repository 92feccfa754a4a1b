"""The process's Prometheus metrics, in a registry of flowpin's own (not the client library's
global one, so an application embedding flowpin keeps its own ``/metrics`` to itself).

Metrics are per process: a worker counts what it did, an API server what it did. The hot
path records per batch where it can (one ``inc`` per label set of a checkpoint batch, not one
per step). Labels name workflows and tenants, so the metrics are for the operator of the
deployment, never for a tenant: they are served only on the metrics port (``exposition``).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)

RUNS_STARTED = Counter(
    "flowpin_runs_started",
    "Runs this process created (API, events, schedules, child runs).",
    ["tenant", "workflow"],
    registry=REGISTRY,
)
RUNS_FINISHED = Counter(
    "flowpin_runs_finished",
    "Runs this process ended, by final status.",
    ["tenant", "workflow", "status"],
    registry=REGISTRY,
)
STEPS = Counter(
    "flowpin_steps",
    "History steps this process recorded, by step type and outcome.",
    ["type", "outcome"],
    registry=REGISTRY,
)
ACTION_SECONDS = Histogram(
    "flowpin_action_duration_seconds",
    "Wall time of action handler calls, by action (id@version).",
    ["action"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
EVENT_RESUME_SECONDS = Histogram(
    "flowpin_event_resume_seconds",
    "From an event reaching a waiting run to a worker picking the run up with it.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
TIMER_LATENESS_SECONDS = Histogram(
    "flowpin_timer_lateness_seconds",
    "How late timers and deadlines fired (fired - due).",
    buckets=_LATENESS_BUCKETS,
    registry=REGISTRY,
)
CLAIM_BATCH = Histogram(
    "flowpin_claim_batch_size",
    "Runs taken by one claim (claims that found nothing are not observed).",
    buckets=_BATCH_BUCKETS,
    registry=REGISTRY,
)
CHECKPOINT_BATCH = Histogram(
    "flowpin_checkpoint_batch_size",
    "Checkpoints written by one commit: the worker's group-commit batch size.",
    buckets=_BATCH_BUCKETS,
    registry=REGISTRY,
)
CHECKPOINT_COMMIT_SECONDS = Histogram(
    "flowpin_checkpoint_commit_seconds",
    "Wall time of writing and committing one checkpoint batch.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
EVENT_BATCH = Histogram(
    "flowpin_event_commit_batch_size",
    "Events written by one commit of the API's event group commit.",
    buckets=_BATCH_BUCKETS,
    registry=REGISTRY,
)
LEASES_LOST = Counter(
    "flowpin_leases_lost",
    "Claims this worker found lost at its next checkpoint: its lease expired and another "
    "worker took the run over (taken_over), or the run was canceled meanwhile (canceled).",
    ["reason"],
    registry=REGISTRY,
)


def count_steps(pairs: Iterable[tuple[str, str]]) -> None:
    """Add a batch of (step type, outcome) pairs: one increment per distinct pair."""
    for (step_type, outcome), n in Tally(pairs).items():
        STEPS.labels(step_type, outcome).inc(n)


def count_finished(triples: Iterable[tuple[str, str, str]]) -> None:
    """Add a batch of (tenant, workflow, status) run endings."""
    for (tenant, workflow, status), n in Tally(triples).items():
        RUNS_FINISHED.labels(tenant, workflow, status).inc(n)


def observe_event_resumes(rows: Iterable[Any], now: datetime) -> None:
    """Inbox rows a worker picked up at ``now``: the events among them resumed their run."""
    for row in rows:
        if row.kind == "event" and row.at is not None:
            EVENT_RESUME_SECONDS.observe(max(0.0, (now - row.at).total_seconds()))


def observe_lateness(seconds: Iterable[float]) -> None:
    for late in seconds:
        TIMER_LATENESS_SECONDS.observe(max(0.0, float(late)))
