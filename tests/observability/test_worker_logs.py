"""``flowpin worker`` and ``flowpin serve`` say what they do: a start-up line (version, the
database without its password, worker id, actions loaded), each failed attempt and retry with
its reason, a summary while busy - as text or as JSON lines with run fields - and the worker
serves ``/metrics`` on ``--metrics-port``. Payload values never appear in the log."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import unreachable_actions

from flowpin import Engine
from flowpin.registry.catalog import Registry
from servekit import CLI, ROOT, clean_env, flowpin_serve, free_port
from waiting import wait_until

HERE = Path(__file__).resolve().parent
PASSWORD = "pw-not-for-logs"
SECRET_PAYLOAD = "ann@payload.example"
FLOW = {
    "key": "welcome",
    "steps": [
        {
            "id": "mail",
            "type": "action.call",
            "retry": {"maxAttempts": 100, "backoffMs": 20, "jitter": "none"},
            "config": {
                "actionId": "obs.send",
                "version": 1,
                "inputMapping": {"to": {"$expr": "payload.email"}},
            },
        }
    ],
}


def _with_password(db_url: str) -> str:
    """The URL with a password (PostgreSQL here trusts loopback, so any password connects)."""
    url = sa.make_url(db_url)
    if url.get_backend_name() == "sqlite":
        return db_url
    return url.set(password=PASSWORD).render_as_string(hide_password=False)


@contextmanager
def worker(db_url: str, *args: str) -> Iterator[list[str]]:
    """``flowpin worker`` as a process; yields the lines it writes (stdout and stderr)."""
    lines: list[str] = []
    env = clean_env(PYTHONPATH=str(HERE), FLOWPIN_LOG_SUMMARY_SECONDS="0.3")
    process = subprocess.Popen(
        [*CLI, "worker", "--db", db_url, "--actions", "unreachable_actions", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


def _scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_worker_logs_its_start_its_retries_and_a_summary(db_url: str, log_format: str) -> None:
    url = _with_password(db_url)
    registry = Registry()
    registry.register(unreachable_actions)
    with Engine(db_url, registry=registry) as engine:
        engine.publish(FLOW)
        run_id = engine.start("welcome", {"email": SECRET_PAYLOAD})
    metrics_port = free_port()
    args = ["--log-format", log_format, "--metrics-port", str(metrics_port)]
    with worker(url, *args) as lines:
        wait_until(lambda: sum("retrying" in ln for ln in lines) >= 3, "three retries logged")
        wait_until(lambda: any("runs claimed" in ln for ln in lines), "a summary line")
        metrics = wait_until(lambda: _scrape(metrics_port), "the worker's /metrics")
    text = "".join(lines)
    assert PASSWORD not in text and SECRET_PAYLOAD not in text
    assert 'flowpin_steps_total{outcome="retrying",type="action.call"}' in metrics
    if log_format == "json":
        records = [json.loads(ln) for ln in lines if ln.startswith("{")]
        assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
        start = next(r for r in records if "starting" in r["message"])
        started = next(r for r in records if r.get("worker"))
        retry = next(r for r in records if "retrying" in r["message"])
        assert (retry["run_id"], retry["step_id"], retry["workflow"]) == (run_id, "mail", "welcome")
        assert retry["level"] == "warning" and retry["category"] == "ActionError"
        assert "cannot reach smtp.invalid:25" in retry["message"]
        message = start["message"]
        assert started["message"].startswith(f"worker {started['worker']} started")
    else:
        message = next(ln for ln in lines if "worker starting" in ln)
        retry_line = next(ln for ln in lines if "retrying" in ln)
        assert f"run_id={run_id}" in retry_line and "step_id=mail" in retry_line
        assert "cannot reach smtp.invalid:25" in retry_line
        assert any(" started (up to " in ln for ln in lines)
    from flowpin import __version__

    assert f"flowpin {__version__} worker starting" in message
    assert "obs.send@1" in message and "actions loaded" in message
    if "postgresql" in url:
        assert "***" in message


def test_serve_logs_its_start_and_serves_metrics_on_its_own_port(db_url: str) -> None:
    output: list[str] = []
    metrics_port = free_port()
    args = ("--log-format", "json", "--metrics-port", str(metrics_port))
    with flowpin_serve(db_url, *args, output=output) as http:
        assert "flowpin_runs_due" not in http.get("/metrics").text  # not on the API port
        metrics = wait_until(lambda: _scrape(metrics_port), "serve's /metrics")
        assert "flowpin_runs_due " in metrics
    records = [json.loads(ln) for ln in output if ln.startswith("{")]
    start = next(r for r in records if "serve starting" in r["message"])
    assert "http.request@1" in start["message"]


def test_a_busy_metrics_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        db = f"sqlite:///{tmp_path / 'w.db'}"
        done = subprocess.run(
            [*CLI, "worker", "--db", db, "--until-idle", "--metrics-port", str(port)],
            cwd=ROOT,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    [line] = [ln for ln in done.stderr.splitlines() if "cannot listen" in ln]
    assert f"cannot listen on 127.0.0.1:{port} for metrics" in line
    assert "Traceback" not in done.stderr
