"""With the ``otel`` extra, a run is one trace: the ``POST /api/runs`` request's span, then the
worker's spans for the claim, each step and each action call (run id, workflow, version and
step id as attributes), and ``http.request@1`` sends the action call's ``traceparent`` to the
server it calls. Without the extra, runs work and nothing of the SDK is imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _ancestors(span: dict[str, Any], spans: list[dict[str, Any]]) -> list[int]:
    """The span ids above ``span``, nearest first."""
    by_id = {s["id"]: s for s in spans}
    found: list[int] = []
    while span["parent"] is not None:
        found.append(span["parent"])
        if span["parent"] not in by_id:
            break
        span = by_id[span["parent"]]
    return found


def test_a_run_is_one_trace_from_the_request_to_the_outgoing_call(db_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(HERE / "trace_chain.py"), db_url],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "SUCCEEDED"
    run_id, spans = result["runId"], result["spans"]
    request = next(s for s in spans if s["name"] == "POST /api/runs")
    assert request["kind"] == "SERVER"
    assert request["attributes"]["http.response.status_code"] == 201
    ours = [s for s in spans if s["trace"] == request["trace"]]
    claim = next(s for s in ours if s["name"] == "claim run")
    steps = {s["attributes"]["flowpin.step_id"]: s for s in ours if s["name"].startswith("step ")}
    action = next(s for s in ours if s["name"] == "action http.request@1")
    for span in (claim, action, *steps.values()):
        assert request["id"] in _ancestors(span, ours)
        assert span["attributes"]["flowpin.run_id"] == run_id
        assert span["attributes"]["flowpin.workflow"] == "hook"
        assert span["attributes"]["flowpin.version"] == 1
    assert set(steps) == {"note", "call"}
    assert action["attributes"]["flowpin.step_id"] == "call"
    read = next(s for s in spans if s["name"] == "GET /api/runs/{run_id}")  # api.lean
    assert read["kind"] == "SERVER"
    assert read["attributes"]["http.route"] == "/api/runs/{run_id}"
    assert read["attributes"]["http.response.status_code"] == 200
    [headers] = result["received"]
    _version, trace_id, parent_id, _flags = headers["traceparent"].split("-")
    assert int(trace_id, 16) == request["trace"]
    assert int(parent_id, 16) == action["id"]


WITHOUT_THE_EXTRA = """
import sys, tempfile
sys.modules["opentelemetry.sdk"] = None  # as if the otel extra were not installed
from flowpin import Engine
with tempfile.TemporaryDirectory() as folder, Engine(f"sqlite:///{folder}/t.db") as engine:
    engine.publish({"key": "k", "steps": [{"id": "s", "type": "state.set",
                                          "config": {"state": "A"}}]})
    run_id = engine.start("k", {})
    engine.run_worker(until_idle=True)
    print(engine.get_run(run_id)["status"])
print(len([m for m, v in sys.modules.items() if m.startswith("opentelemetry.sdk") and v]))
"""


def test_without_the_extra_runs_work_and_nothing_of_it_is_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_EXTRA],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["SUCCEEDED", "0"]
