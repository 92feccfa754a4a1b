"""The request path against the bare stack (one command): ``python benchmarks/request_path.py``.

Two servers on 127.0.0.1, same Python and uvicorn, measured with ``wrk`` (Debian package
``wrk``) one after the other, interleaved per concurrency so a busy machine slows both alike:

- flowpin: ``flowpin serve`` on a fresh SQLite file with its in-process worker, a 1-step
  workflow (``POST /api/runs``), runs parked on ``event.wait`` (``POST /api/events``, each
  event resuming one of them) and ``GET /api/runs/{id}``;
- bare: a FastAPI app whose ``POST /insert`` inserts and commits one row in SQLite WAL and
  whose ``GET /constant`` returns a constant.

Printed per concurrency, as medians of ``--rounds`` interleaved rounds (3): req/s and p99 of
each, the ratios flowpin / bare (starts and events against the bare insert, reads against the
bare constant, each round against the bare app measured just before it), and the drain time
(the longest): from the end of the ``POST /api/runs`` load until every accepted run finished.
``--bare-app PORT DB`` serves the bare app alone (the script starts itself that way).

``--db postgresql://postgres@127.0.0.1:5432/test`` runs both on PostgreSQL instead: flowpin
(with ``--workers N``: ``flowpin serve --workers N``) and the bare insert each in a scratch
schema of that database, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

ONE_STEP = {"key": "one", "steps": [{"id": "end", "type": "control.return", "output": "ok"}]}
PARKED = {
    "key": "parked",
    "steps": [
        {"id": "wait", "type": "event.wait", "config": {"eventName": "go"}},
        {"id": "end", "type": "control.return", "output": "ok"},
    ],
}

POST_RUNS = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = '{{"workflow": "one", "payload": {{"n": 1}}}}'
"""

POST_EVENTS = """
local n = {first}
request = function()
  n = n + 1
  local body = string.format('{{"name": "go", "key": "k%d", "payload": {{}}}}', n)
  return wrk.format("POST", "/api/events", {{
    ["Content-Type"] = "application/json", ["Authorization"] = "Bearer {key}"}}, body)
end
"""

GET_RUN = """
wrk.headers["Authorization"] = "Bearer {key}"
"""

POST_BARE = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"n": 1}'
"""


def bare_app(port: int, db: str) -> None:
    """A FastAPI app doing the least a request can: one insert and commit (in a SQLite file,
    or in PostgreSQL when ``db`` is a URL), or nothing."""
    import uvicorn
    from fastapi import FastAPI

    inserter = postgres_inserter(db) if db.startswith("postgresql") else sqlite_inserter(db)
    local = threading.local()
    app = FastAPI()

    @app.post("/insert")
    def insert(body: dict[str, Any]) -> dict[str, Any]:
        add = getattr(local, "add", None)
        if add is None:
            add = local.add = inserter()  # a connection per handler thread
        return {"id": add(json.dumps(body))}

    @app.get("/constant")
    async def constant() -> dict[str, Any]:
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


Inserter = Callable[[], Callable[[str], int]]
"""Opens a connection; what it returns inserts one row and commits."""


def sqlite_inserter(db: str) -> Inserter:
    with sqlite3.connect(db) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, body TEXT)")

    def connect() -> Callable[[str], int]:
        conn = sqlite3.connect(db, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")

        def add(body: str) -> int:
            with conn:  # commits
                return int(conn.execute("INSERT INTO rows (body) VALUES (?)", (body,)).lastrowid)

        return add

    return connect


def postgres_inserter(url: str) -> Inserter:
    import psycopg

    with psycopg.connect(url, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS rows (id BIGSERIAL PRIMARY KEY, body TEXT)")

    def connect() -> Callable[[str], int]:
        conn = psycopg.connect(url)

        def add(body: str) -> int:
            with conn.transaction():
                row = conn.execute("INSERT INTO rows (body) VALUES (%s) RETURNING id", (body,))
                return int(row.fetchone()[0])  # type: ignore[index]

        return add

    return connect


@contextmanager
def scratch_schema(url: str) -> Iterator[str]:
    """``url`` on a fresh schema of its database (``search_path``), dropped afterwards."""
    import psycopg

    raw = url.replace("postgresql+psycopg://", "postgresql://")
    schema = f"flowpin_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(raw, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{raw}{'&' if '?' in raw else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(raw, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def launch(command: list[str], log: Path, port: int, extra: dict[str, str] | None = None) -> Server:
    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWPIN_")}
    env.update(extra or {})
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(server.base + "/", timeout=1)
            return server
        except httpx.TransportError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    server.stop()
    raise SystemExit(f"server did not start: {command}\n{log.read_text()[-2000:]}")


def start_flowpin(
    folder: Path, args: argparse.Namespace, source: str | None, db: str | None = None
) -> Flowpin:
    """``flowpin serve`` on a database made by ``prepare`` (``db``, else a SQLite file in
    ``folder``); ``source``: a ``src`` folder of another flowpin checkout to run instead of
    this one (``--before``)."""
    import httpx

    folder.mkdir()
    db = db or f"sqlite:///{folder / 'flowpin.db'}"
    run_id = prepare(db, args.parked)
    port = free_port()
    command = [sys.executable, "-m", "flowpin.cli.main", "serve", "--db", db, "--port", str(port)]
    if args.workers > 1:
        command += ["--workers", str(args.workers)]
    env = {"PYTHONPATH": source} if source else {}
    server = launch(command, folder / "flowpin.log", port, env)
    match = re.search(r"FLOWPIN_API_KEY=(\S+)", server.log.read_text())
    if match is None:
        server.stop()
        raise SystemExit("flowpin serve printed no API key")
    key = match.group(1)
    http = httpx.Client(base_url=server.base, headers={"Authorization": f"Bearer {key}"})
    drain(http, "parked")  # every run waits for its event
    return Flowpin(server, http, key, run_id)


@dataclass
class Flowpin:
    server: Server
    http: httpx.Client
    key: str
    run_id: str
    sent: int = 0
    """Events sent so far: the next load resumes the runs after these."""


@dataclass
class Result:
    rps: float
    p99_ms: float
    requests: int


def wrk(url: str, connections: int, seconds: float, script: str, folder: Path) -> Result:
    path = folder / "script.lua"
    path.write_text(script)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(path), url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} failed responses\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Result(rps, float(p99.group(1)) * scale, requests)


def active_runs(http: httpx.Client, workflow: str) -> int:
    counts = http.get("/api/runs/counts", params={"workflow": workflow}).json()["counts"]
    return int(counts["PENDING"] + counts["RUNNING"])


def drain(http: httpx.Client, workflow: str, timeout: float = 300) -> float:
    begin = time.perf_counter()
    while active_runs(http, workflow) and time.perf_counter() - begin < timeout:
        time.sleep(0.05)
    return time.perf_counter() - begin


def prepare(url: str, parked: int) -> str:
    """The database flowpin serve opens: both workflows published and ``parked`` runs of
    ``parked`` (subjects k1…kN) created here, in-process, so they are waiting when the events
    load starts; returns the run ``GET /api/runs/{id}`` reads."""
    from flowpin.engine import Engine
    from flowpin.engine.start_commits import StartIn

    with Engine(url) as engine:
        engine.publish(ONE_STEP)
        engine.publish(PARKED)
        for first in range(1, parked + 1, 1000):
            last = min(first + 1000, parked + 1)
            engine.start_many([StartIn("parked", {}, f"k{n}") for n in range(first, last)])
        return engine.start("one", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="1,8,32,64", help="comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--parked", type=int, default=300000, help="runs parked for the events")
    parser.add_argument("--workers", type=int, default=1, help="flowpin serve --workers")
    parser.add_argument(
        "--db", metavar="URL", help="a PostgreSQL database to run both in (scratch schemas)"
    )
    parser.add_argument(
        "--before", metavar="SRC", help="also run the flowpin in this src folder (same run)"
    )
    parser.add_argument("--bare-app", nargs=2, metavar=("PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_app:
        bare_app(int(args.bare_app[0]), args.bare_app[1])
        return
    with tempfile.TemporaryDirectory(prefix="flowpin-http-") as tmp:
        run(Path(tmp), args)


def run(folder: Path, args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        if args.db:
            assert args.db.startswith("postgresql"), "--db: a postgresql:// URL"

            def database() -> str | None:
                return stack.enter_context(scratch_schema(args.db))

        else:

            def database() -> str | None:
                return None

        bare_db = database() or str(folder / "bare.db")
        bare_port = free_port()
        bare = launch(
            [sys.executable, __file__, "--bare-app", str(bare_port), bare_db],
            folder / "bare.log",
            bare_port,
        )
        stack.callback(bare.stop)
        variants = {"flowpin": start_flowpin(folder / "now", args, None, database())}
        if args.before:
            variants["before"] = start_flowpin(folder / "before", args, args.before, database())
        for flowpin in variants.values():
            stack.callback(flowpin.server.stop)
            stack.callback(flowpin.http.close)
        print(HEADER, flush=True)
        for connections in [int(c) for c in args.connections.split(",")]:
            rounds: list[dict[str, Any]] = []
            for _ in range(args.rounds):  # interleaved: a busy moment slows both alike
                insert = wrk(bare.base + "/insert", connections, args.seconds, POST_BARE, folder)
                constant = wrk(bare.base + "/constant", connections, args.seconds, "", folder)
                got = {"insert": insert, "constant": constant}
                for name, flowpin in variants.items():
                    got[name] = measure(flowpin, connections, args, folder)
                rounds.append(got)
            for name in variants:
                print(row(name, connections, rounds), flush=True)
            print(row("bare", connections, rounds), flush=True)


def measure(
    flowpin: Flowpin, connections: int, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    """One flowpin's three loads at ``connections``, and the drain time after the starts."""
    base, key = flowpin.server.base, flowpin.key
    got: dict[str, Any] = {}
    got["runs"] = wrk(
        base + "/api/runs", connections, args.seconds, POST_RUNS.format(key=key), folder
    )
    got["drain"] = drain(flowpin.http, "one")
    events = POST_EVENTS.replace("{first}", str(flowpin.sent)).format(key=key)
    got["events"] = wrk(base + "/api/events", connections, args.seconds, events, folder)
    flowpin.sent += got["events"].requests
    if flowpin.sent > args.parked:
        print(f"note: {flowpin.sent} events sent, only {args.parked} runs parked (--parked)")
    drain(flowpin.http, "parked")
    url = f"{base}/api/runs/{flowpin.run_id}"
    got["get"] = wrk(url, connections, args.seconds, GET_RUN.format(key=key), folder)
    return got


HEADER = (
    "| server | c | POST /api/runs | ×insert | drain | POST /api/events | ×insert "
    "| GET /api/runs/{id} | ×constant |\n|---|---|---|---|---|---|---|---|---|"
)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def row(name: str, connections: int, rounds: list[dict[str, Any]]) -> str:
    """The medians over the rounds: of each req/s and p99, and of each round's ratio (flowpin
    against the bare app measured just before it)."""

    def cell(pick: Callable[[dict[str, Any]], Result]) -> str:
        rps = median([pick(r).rps for r in rounds])
        p99 = median([pick(r).p99_ms for r in rounds])
        return f"{rps:,.0f} · p99 {p99:,.0f} ms"

    def ratio(load: str, base: str) -> str:
        return f"{median([r[name][load].rps / r[base].rps for r in rounds]):.2f}"

    if name == "bare":
        insert, constant = cell(lambda r: r["insert"]), cell(lambda r: r["constant"])
        return (
            f"| bare | {connections} | {insert} (insert) | 1.00 | | {insert} (insert) | 1.00 "
            f"| {constant} (constant) | 1.00 |"
        )
    drain = max(r[name]["drain"] for r in rounds)
    return (
        f"| {name} | {connections} | {cell(lambda r: r[name]['runs'])} | {ratio('runs', 'insert')} "
        f"| {drain:.1f} s | {cell(lambda r: r[name]['events'])} | {ratio('events', 'insert')} "
        f"| {cell(lambda r: r[name]['get'])} | {ratio('get', 'constant')} |"
    )


if __name__ == "__main__":
    main()
