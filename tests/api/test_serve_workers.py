"""``flowpin serve --workers 2`` as real processes on PostgreSQL: requests are answered by two
processes sharing the port, runs started through either finish, and a SIGTERM or SIGINT to the
server leaves no process behind (nor does a SIGKILL: the children stop with their parent).
SQLite refuses more than one process in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from servekit import CLI, ROOT, clean_env, free_port, run_status
from waiting import DEADLINE_SECONDS, wait_until

ONE_STEP = {"key": "one", "steps": [{"id": "end", "type": "control.return", "output": "ok"}]}


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie, dead but not reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_two_processes_serve_finish_runs_and_stop_together(
    pg_url: str, stop_signal: signal.Signals
) -> None:
    port = free_port()
    lines: list[str] = []
    process = subprocess.Popen(
        [*CLI, "serve", "--db", pg_url, "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    pids: set[int] = set()
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
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            wait_until(lambda: http.get("/api/health").status_code == 200, "the server")
            assert http.post("/api/workflows", json={"key": "one", "draft": ONE_STEP}).is_success
            assert http.post("/api/workflows/one/publish").json()["version"] == 1
        # A fresh client is a fresh connection; its requests stay on the process that took it.
        runs: dict[int, list[str]] = {}
        deadline = time.monotonic() + DEADLINE_SECONDS
        while len(runs) < 2 or min(len(ids) for ids in runs.values()) < 3:
            assert time.monotonic() < deadline, f"runs started through {sorted(runs)} only"
            with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
                pid = http.get("/api/health").json()["pid"]
                started = http.post("/api/runs", json={"workflow": "one"})
                assert started.status_code == 201, started.text
                assert http.get("/api/health").json()["pid"] == pid
                runs.setdefault(pid, []).append(started.json()["runId"])
        pids = set(runs)
        assert process.pid not in pids  # the parent only supervises
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            for ids in runs.values():
                for run_id in ids:
                    assert run_status(http, run_id, {"SUCCEEDED", "FAILED"}) == "SUCCEEDED"
        assert sum("flowpin: serving" in line for line in lines) == 1, "".join(lines)
    finally:
        process.send_signal(stop_signal)
        try:
            process.wait(timeout=DEADLINE_SECONDS + 10)
        except subprocess.TimeoutExpired:
            process.kill()
            for pid in pids:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            process.wait(timeout=10)
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
    expected = -signal.SIGKILL if stop_signal == signal.SIGKILL else 0
    assert process.returncode == expected, "".join(lines)
    wait_until(lambda: not any(alive(pid) for pid in pids), "the API processes to stop")


def test_sqlite_refuses_more_than_one_process(tmp_path: Path) -> None:
    db = tmp_path / "flowpin.db"
    result = subprocess.run(
        [*CLI, "serve", "--db", f"sqlite:///{db}", "--port", str(free_port()), "--workers", "2"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--workers above 1 needs PostgreSQL" in result.stderr
    assert not db.exists()  # refused before anything was created
