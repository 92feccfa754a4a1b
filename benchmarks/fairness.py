"""Fairness benchmark (one command): ``python benchmarks/fairness.py [--db URL] [--hostile 1]``.

A hostile run (a forEach of 200 items, each spending its whole 50 ms expression budget, ~10 s
of wall time) is started first; then, while a worker drives it, trivial runs (one
``control.return``) are started.

- default: the worker runs on a thread of this process and ``Engine.start`` is called from the
  main thread, as an API handler would; printed: how long that start took, how long until the
  trivial run finished, how long the hostile runs took, and the worker's counters;
- ``--http``: the same through ``flowpin serve`` (API and worker in one process): the median
  ``POST /api/runs`` time when idle and while the hostile run burns, and the time from
  ``POST`` to ``SUCCEEDED`` of trivial runs started one at a time while it burns.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from flowpin.engine import Engine

BURN = "($loop := function() { $loop() }; $loop())"
"""Never ends: stopped by the 50 ms time limit of every evaluation."""


def hostile(items: int = 200) -> dict[str, Any]:
    return {
        "key": "hostile",
        "steps": [
            {
                "id": "each",
                "type": "control.forEach",
                "items": {"$expr": f"[1..{items}]"},
                "body": [
                    {
                        "id": "burn",
                        "type": "transform.assign",
                        "onError": "continue",
                        "config": {"assign": {"vars.x": {"$expr": BURN}}},
                    }
                ],
            },
            {"id": "end", "type": "control.return", "output": "burnt"},
        ],
    }


TRIVIAL = {"key": "trivial", "steps": [{"id": "end", "type": "control.return", "output": "ok"}]}


def in_process(url: str, hostiles: int, items: int) -> None:
    with Engine(url) as engine:
        engine.publish(hostile(items))
        engine.publish(TRIVIAL)
        bad = [engine.start("hostile", {}) for _ in range(hostiles)]
        stop = threading.Event()
        result: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: result.setdefault("w", engine.run_worker(stop=stop))
        )
        t0 = time.perf_counter()
        worker.start()
        time.sleep(0.5)  # the hostile runs are claimed and burning
        t1 = time.perf_counter()
        good = engine.start("trivial", {})
        started = time.perf_counter() - t1
        while engine.get_run(good)["status"] != "SUCCEEDED":
            time.sleep(0.005)
        trivial = time.perf_counter() - t1
        while any(engine.get_run(r)["status"] not in ("SUCCEEDED", "FAILED") for r in bad):
            time.sleep(0.05)
        total = time.perf_counter() - t0
        stop.set()
        worker.join()
        stats = result["w"].stats
        print(f"start of the trivial run: {started * 1000:.1f} ms")
        print(f"trivial run finished after: {trivial * 1000:.1f} ms")
        print(f"{hostiles} hostile run(s) finished after: {total:.2f} s")
        print(f"worker: claimed {stats.claimed}, checkpoints {stats.checkpoints}")


def over_http(url: str, items: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWPIN_")}
    command = [sys.executable, "-m", "flowpin.cli.main", "serve", "--db", url, "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        key = ""
        for line in process.stdout:
            if line.startswith("FLOWPIN_API_KEY="):
                key = line.split("=", 1)[1].strip()
            if "serving" in line and key:
                break
        drain = threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True)
        drain.start()  # uvicorn logs every request: keep the pipe from filling up
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            while True:
                try:
                    if http.get("/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            for definition in (hostile(items), TRIVIAL):
                http.post("/api/workflows", json={"key": definition["key"], "draft": definition})
                http.post(f"/api/workflows/{definition['key']}/publish").raise_for_status()

            def post() -> tuple[float, str]:
                begin = time.perf_counter()
                answer = http.post("/api/runs", json={"workflow": "trivial", "payload": {}})
                return time.perf_counter() - begin, answer.json()["runId"]

            def finished(run_id: str, begin: float) -> float:
                while http.get(f"/api/runs/{run_id}").json()["status"] != "SUCCEEDED":
                    time.sleep(0.005)
                return time.perf_counter() - begin

            idle = [post()[0] for _ in range(5)]
            bad = http.post("/api/runs", json={"workflow": "hostile", "payload": {}})
            time.sleep(1.0)  # burning
            busy = [post()[0] for _ in range(8)]
            done = []
            for _ in range(3):
                begin = time.perf_counter()
                done.append(finished(post()[1], begin))
            status = http.get(f"/api/runs/{bad.json()['runId']}").json()["status"]
            print(f"POST /api/runs, idle: median {statistics.median(idle) * 1000:.0f} ms")
            print(
                f"POST /api/runs while the hostile run burns: median "
                f"{statistics.median(busy) * 1000:.0f} ms, max {max(busy) * 1000:.0f} ms"
            )
            print(
                "trivial run POST → SUCCEEDED meanwhile: "
                + ", ".join(f"{seconds * 1000:.0f} ms" for seconds in done)
                + f" (the hostile run is {status} after them)"
            )
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None)
    parser.add_argument("--hostile", type=int, default=1)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--http", action="store_true", help="through flowpin serve")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{Path(folder) / 'fair.db'}"
        if args.http:
            over_http(url, args.items)
        else:
            in_process(url, args.hostile, args.items)


if __name__ == "__main__":
    main()
