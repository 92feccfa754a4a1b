"""``flowpin serve`` as a real process on 127.0.0.1 (create → publish → start → event →
SUCCEEDED over HTTP), and ``flowpin keys create``."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
from pathlib import Path

from apikit import WAITER

from flowpin import Engine
from flowpin.cli.serve_cmd import listen
from servekit import CLI, clean_env, flowpin_serve, run_status


def test_serve_end_to_end(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    with flowpin_serve(db, "--examples") as http:
        listed = {w["key"] for w in http.get("/api/workflows").json()["items"]}
        assert {"hello", "order-approval"} <= listed

        assert http.post("/api/workflows", json={"key": "waiter", "draft": WAITER}).status_code
        assert http.post("/api/workflows/waiter/publish").json()["version"] == 1
        run_id = http.post("/api/runs", json={"workflow": "waiter", "subject": "s-1"}).json()[
            "runId"
        ]
        assert run_status(http, run_id, {"WAITING"}) == "WAITING"
        sent = http.post("/api/events", json={"name": "go", "key": "s-1", "payload": {"a": 1}})
        assert sent.json()["resumed"] == [run_id]
        assert run_status(http, run_id, {"SUCCEEDED", "FAILED"}) == "SUCCEEDED"
        assert http.get(f"/api/runs/{run_id}").json()["output"] == {"a": 1}


def _keys(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "keys", *args, "--db", db],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keys_create_prints_the_key_once(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'keys.db'}"
    result = _keys("create", "--tenant", "acme", "--role", "editor", db=db)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["tenant"] == "acme" and created["role"] == "editor"
    assert re.fullmatch(r"fp_[A-Za-z0-9_-]{40,}", created["key"])
    with Engine(db) as engine:
        principal = engine.authenticate(created["key"])
        assert principal is not None and principal.tenant == "acme"
    listed = _keys("list", "--tenant", "acme", db=db)
    assert created["key"] not in listed.stdout and created["keyId"] in listed.stdout
    revoked = _keys("revoke", created["keyId"], "--tenant", "acme", db=db)
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    with Engine(db) as engine:
        assert engine.authenticate(created["key"]) is None
    bad = _keys("create", "--role", "root", db=db)
    assert bad.returncode == 2 and "key.invalid_role" in bad.stdout


def test_serve_answers_without_delaying_small_responses() -> None:
    """The connections ``flowpin serve`` accepts send at once (TCP_NODELAY): without it, a
    keep-alive client waited for a delayed ACK on every request."""

    async def accept_one() -> int:
        flags: list[int] = []
        seen = asyncio.Event()

        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            flags.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            seen.set()
            writer.close()

        listener = listen("127.0.0.1", 0)
        server = await asyncio.start_server(accepted, sock=listener)
        async with server:
            port = listener.getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            await seen.wait()
            writer.close()
            await writer.wait_closed()
        return flags[0]

    assert asyncio.run(asyncio.wait_for(accept_one(), timeout=10)) != 0
