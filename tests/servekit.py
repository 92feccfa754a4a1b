"""A real ``flowpin serve`` process on 127.0.0.1 for tests: started with a clean environment,
its admin key read from its output, an HTTP client once ``/api/health`` answers, and stopped
with SIGINT (killed if it does not exit) - every wait bounded in time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "flowpin.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``FLOWPIN_``/``JOURNEYS_``/``HELPDESK_``
    setting (so none leaks in from the shell), plus ``extra``."""
    prefixes = ("FLOWPIN_", "JOURNEYS_", "HELPDESK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


@contextmanager
def flowpin_serve(
    db_url: str, *args: str, env: dict[str, str] | None = None, output: list[str] | None = None
) -> Iterator[httpx.Client]:
    """``flowpin serve --db db_url ARGS`` on a free port; yields a client that sends the admin
    key it printed. ``output`` collects the process's lines. On exit the process must stop
    cleanly (exit code 0)."""
    port = free_port()
    lines: list[str] = output if output is not None else []
    process = subprocess.Popen(
        [*CLI, "serve", "--db", db_url, "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=ROOT,
        env=env if env is not None else clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader = threading.Thread(
        target=lambda: lines.extend(process.stdout or []), name="serve-output", daemon=True
    )
    reader.start()
    try:
        key = wait_until(
            lambda: (
                next((ln for ln in lines if ln.startswith("FLOWPIN_API_KEY=")), None)
                or process.poll() is not None
            ),
            "the admin key",
        )
        assert isinstance(key, str), "flowpin serve exited:\n" + "".join(lines)
        headers = {"Authorization": f"Bearer {key.split('=', 1)[1].strip()}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
            wait_until(lambda: http.get("/api/health").status_code == 200, "the server")
            yield http
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
    assert process.returncode == 0, "".join(lines)


def run_status(http: httpx.Client, run_id: str, statuses: set[str]) -> str:
    """The run's status once it is one of ``statuses``."""

    def status() -> str | None:
        current = str(http.get(f"/api/runs/{run_id}").json()["status"])
        return current if current in statuses else None

    return wait_until(status, f"run {run_id} to be one of {sorted(statuses)}")
