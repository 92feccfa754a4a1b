"""``/metrics`` (Prometheus) counts what the process did: after a workload, the counters agree
with what the database holds (runs by workflow and status, steps by type and outcome, action
calls, events, timers, checkpoints), and the queue gauges are read from the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from flowpin import Engine
from flowpin.engine.metrics_port import serve_metrics
from flowpin.registry.actions import ActionError, action
from flowpin.registry.catalog import Registry
from flowpin.store import tables as t


class Order(BaseModel):
    n: int


@action("metrics.check", version=1, effect="none")
def check(order: Order) -> Order:
    if order.n % 3 == 0:
        raise ActionError("multiples of three are refused", retryable=False)
    return order


FLOW = {
    "key": "orders",
    "steps": [
        {"id": "nap", "type": "time.wait", "config": {"durationMs": 1}},
        {"id": "wait", "type": "event.wait", "config": {"eventName": "go", "saveAs": "vars.go"}},
        {
            "id": "check",
            "type": "action.call",
            "config": {
                "actionId": "metrics.check",
                "version": 1,
                "inputMapping": {"n": {"$expr": "payload.n"}},
            },
        },
        {"id": "done", "type": "control.return", "output": "ok"},
    ],
}
RUNS = 9


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``GET /metrics``, by name and labels."""
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def delta(after: dict[Any, float], before: dict[Any, float], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    registry = Registry()
    registry.register(check)
    with Engine(db_url, registry=registry) as engine:
        engine.publish(FLOW)
        yield engine


def test_metrics_after_a_workload_agree_with_the_database(engine: Engine) -> None:
    server = serve_metrics(engine.deps, 0)
    try:
        before = scrape(server.port)
        runs = [engine.start("orders", {"n": n}, subject=f"o{n}") for n in range(RUNS)]
        queued = scrape(server.port)
        assert queued[("flowpin_runs_due", ())] == RUNS
        assert queued[("flowpin_runs_due_oldest_age_seconds", ())] >= 0
        engine.run_worker(until_idle=True)
        while any(engine.get_run(r)["currentStep"] != "wait" for r in runs):
            engine.run_worker(until_idle=True)
        for n in range(RUNS):
            engine.send_event("go", f"o{n}", {"n": n})
        engine.run_worker(until_idle=True)
        after = scrape(server.port)
    finally:
        server.stop()

    with engine.deps.db.read() as conn:
        by_status = dict(
            conn.execute(
                sa.select(t.runs.c.status, sa.func.count()).group_by(t.runs.c.status)
            ).all()
        )
        steps = conn.execute(
            sa.select(
                t.step_history.c.step_type, t.step_history.c.status, sa.func.count()
            ).group_by(t.step_history.c.step_type, t.step_history.c.status)
        ).all()
    assert by_status == {"SUCCEEDED": 6, "FAILED": 3}
    tenant = {"tenant": "default", "workflow": "orders"}
    assert delta(after, before, "flowpin_runs_started_total", **tenant) == RUNS
    for status, count in by_status.items():
        assert delta(after, before, "flowpin_runs_finished_total", **tenant, status=status) == count
    assert steps
    for step_type, outcome, count in steps:
        assert delta(after, before, "flowpin_steps_total", type=step_type, outcome=outcome) == count
    calls = {"action": "metrics.check@1"}
    assert delta(after, before, "flowpin_action_duration_seconds_count", **calls) == RUNS
    assert delta(after, before, "flowpin_event_resume_seconds_count") == RUNS
    assert delta(after, before, "flowpin_event_commit_batch_size_sum") == RUNS
    assert delta(after, before, "flowpin_timer_lateness_seconds_count") == RUNS
    checkpoints = delta(after, before, "flowpin_checkpoint_batch_size_sum")
    commits = delta(after, before, "flowpin_checkpoint_batch_size_count")
    assert checkpoints >= RUNS * 3 and 1 <= commits <= checkpoints
    assert delta(after, before, "flowpin_checkpoint_commit_seconds_count") == commits
    assert delta(after, before, "flowpin_claim_batch_size_sum") >= RUNS * 3
    assert after[("flowpin_runs_due", ())] == 0
    assert after[("flowpin_runs_lease_expired", ())] == 0
