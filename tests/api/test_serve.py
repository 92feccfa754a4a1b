"""``flowpin serve`` as a real process on 127.0.0.1 (create → publish → start → event →
SUCCEEDED over HTTP), and ``flowpin keys create``."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from apikit import WAITER

from flowpin import Engine

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "flowpin.cli.main"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FLOWPIN_DATABASE_URL", None)
    env.pop("FLOWPIN_ACTIONS", None)
    return env


def test_serve_end_to_end(tmp_path: Path) -> None:
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    process = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--db", db, "--examples"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    key_found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("FLOWPIN_API_KEY="):
                key_found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert key_found.wait(30), "".join(lines)
        key = next(line for line in lines if line.startswith("FLOWPIN_API_KEY=")).split("=", 1)[1]
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {key.strip()}"}
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http.get("/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "".join(lines)
                time.sleep(0.1)
            listed = {w["key"] for w in http.get("/api/workflows").json()["items"]}
            assert {"hello", "order-approval"} <= listed

            assert http.post("/api/workflows", json={"key": "waiter", "draft": WAITER}).status_code
            assert http.post("/api/workflows/waiter/publish").json()["version"] == 1
            run_id = http.post("/api/runs", json={"workflow": "waiter", "subject": "s-1"}).json()[
                "runId"
            ]
            status = _wait_for(http, run_id, {"WAITING"})
            assert status == "WAITING"
            sent = http.post("/api/events", json={"name": "go", "key": "s-1", "payload": {"a": 1}})
            assert sent.json()["resumed"] == [run_id]
            assert _wait_for(http, run_id, {"SUCCEEDED", "FAILED"}) == "SUCCEEDED"
            assert http.get(f"/api/runs/{run_id}").json()["output"] == {"a": 1}
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


def _wait_for(http: httpx.Client, run_id: str, statuses: set[str]) -> str:
    deadline = time.monotonic() + 30
    while True:
        status = http.get(f"/api/runs/{run_id}").json()["status"]
        if status in statuses or time.monotonic() > deadline:
            return str(status)
        time.sleep(0.05)


def test_keys_create_prints_the_key_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'keys.db'}"
    result = subprocess.run(
        [*CLI, "keys", "create", "--tenant", "acme", "--role", "editor", "--db", db],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["tenant"] == "acme" and created["role"] == "editor"
    assert re.fullmatch(r"fp_[A-Za-z0-9_-]{40,}", created["key"])
    with Engine(db) as engine:
        principal = engine.authenticate(created["key"])
        assert principal is not None and principal.tenant == "acme"
    listed = subprocess.run(
        [*CLI, "keys", "list", "--tenant", "acme", "--db", db],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created["key"] not in listed.stdout and created["keyId"] in listed.stdout
    revoked = subprocess.run(
        [*CLI, "keys", "revoke", created["keyId"], "--tenant", "acme", "--db", db],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    with Engine(db) as engine:
        assert engine.authenticate(created["key"]) is None
    bad = subprocess.run(
        [*CLI, "keys", "create", "--role", "root", "--db", db],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "key.invalid_role" in bad.stdout
