"""The operations console's runs list over 100,000 runs on SQLite:
``python benchmarks/runs_list.py [--runs 100000] [--db PATH] [--repeat 5]``.

Seeds ``--runs`` runs of three workflows into a fresh SQLite file (rows shaped like real ones:
mostly SUCCEEDED, some WAITING at a step, some FAILED and CANCELED, a subject each, creation
times spread over 30 days), then times the list the console asks for through the HTTP API (the
ASGI app in process, so routing, auth, the query and JSON are all counted): the first page,
the page 50 pages deep reached by following the cursor, each filter alone and combined, the
subject search, and the counts per status. Prints the median and worst of ``--repeat`` calls
per request, in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from flowpin import Engine
from flowpin.api import create_app
from flowpin.store import tables as t

WORKFLOWS = ("email-to-ticket", "contact-journey", "nightly-report")
STEPS = ("classify", "ask-human", "wait-open", "send-follow-up")


def definition(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "steps": [
            {"id": "classify", "type": "state.set", "config": {"state": "CLASSIFYING"}},
            {"id": "wait-open", "type": "event.wait", "config": {"eventName": "opened"}},
        ],
    }


def seed(engine: Engine, runs: int) -> None:
    versions = {}
    for key in (*WORKFLOWS, "rare"):
        engine.publish(definition(key))
        engine.publish({**definition(key), "name": f"{key} v2"})
    with engine.db.read() as conn:
        for row in conn.execute(
            sa.select(
                t.workflow_versions.c.id,
                t.workflow_versions.c.number,
                t.workflows.c.id.label("wf"),
                t.workflows.c.key,
            ).join(t.workflows, t.workflows.c.id == t.workflow_versions.c.workflow_id)
        ):
            versions[(row.key, row.number)] = (row.wf, row.id)
    rng = random.Random(7)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    batch: list[dict[str, Any]] = []
    for n in range(runs):
        key = "rare" if n % 1000 == 0 else WORKFLOWS[n % 3]
        number = 1 if rng.random() < 0.3 else 2
        workflow_id, version_id = versions[(key, number)]
        roll = rng.random()
        status = (
            "WAITING"
            if roll < 0.15
            else "FAILED"
            if roll < 0.18
            else "CANCELED"
            if roll < 0.19
            else "SUCCEEDED"
        )
        created = start + timedelta(seconds=n * 26)
        finished = None if status == "WAITING" else created + timedelta(seconds=5)
        batch.append(
            {
                "id": str(uuid.uuid4()),
                "tenant_id": "default",
                "workflow_id": workflow_id,
                "workflow_key": key,
                "version_id": version_id,
                "version_number": number,
                "subject": f"contact-{n:06d}@example.com",
                "status": status,
                "current_step": rng.choice(STEPS) if status == "WAITING" else None,
                "created_at": created,
                "updated_at": finished or created,
                "finished_at": finished,
                "payload": {"n": n},
                "state": {"envelope": {"payload": {"n": n}, "vars": {}, "meta": {}}},
            }
        )
        if len(batch) == 5000:
            with engine.db.write() as conn:
                conn.execute(t.runs.insert(), batch)
            batch = []
    if batch:
        with engine.db.write() as conn:
            conn.execute(t.runs.insert(), batch)
    with engine.db.write() as conn:
        conn.exec_driver_sql("ANALYZE")


def long_run(engine: Engine) -> str:
    """A finished run with 500 history rows (a forEach of 250 items, two steps each)."""
    engine.publish(
        {
            "key": "long-loop",
            "steps": [
                {
                    "id": "each",
                    "type": "control.forEach",
                    "items": {"$expr": "[1..250]"},
                    "body": [
                        {"id": "a", "type": "state.set", "config": {"state": "A"}},
                        {
                            "id": "b",
                            "type": "transform.assign",
                            "config": {"assign": {"vars.x": 1}},
                        },
                    ],
                }
            ],
        }
    )
    run_id = engine.start("long-loop", {})
    engine.run_worker(until_idle=True)
    return run_id


REQUESTS: dict[str, dict[str, Any]] = {
    "first page": {},
    "status=WAITING": {"status": "WAITING"},
    "status=FAILED": {"status": "FAILED"},
    "workflow": {"workflow": "contact-journey"},
    "workflow+version+status": {
        "workflow": "email-to-ticket",
        "version": 1,
        "status": "FAILED",
    },
    "current step": {"step": "ask-human"},
    "started between (one day)": {
        "createdAfter": "2026-11-15T00:00:00Z",
        "createdBefore": "2026-11-16T00:00:00Z",
    },
    "status=PENDING (no run has it)": {"status": "PENDING"},
    "status=active": {"status": "active"},
    "step nobody is at": {"step": "no-such-step"},
    "rare workflow (100 runs)": {"workflow": "rare"},
    "subject (exact)": {"subject": "contact-054321@example.com"},
    "subject search (substring)": {"search": "054321"},
    "subject search (no match)": {"search": "nobody-has-this"},
}


def timed(client: Any, loop: Any, url: str, params: dict[str, Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    response = loop.run_until_complete(client.get(url, params=params))
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url} {params}: {response.status_code} {response.text}")
    return elapsed, response.json()


def report(name: str, samples: list[float]) -> None:
    median, worst = statistics.median(samples), max(samples)
    print(f"  {name:34s} median {median:7.1f} ms   worst {worst:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "runs.db"
        path.unlink(missing_ok=True)
        with Engine(f"sqlite:///{path}") as engine:
            began = time.perf_counter()
            seed(engine, args.runs)
            print(f"seeded {args.runs:,} runs in {time.perf_counter() - began:.1f} s ({path})")
            key = engine.create_api_key("admin").key
            app = create_app(engine)
            loop = asyncio.new_event_loop()
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {key}"},
            )
            try:
                print(f"GET /api/runs (limit 50), {args.repeat} calls each:")
                for name, params in REQUESTS.items():
                    samples = [
                        timed(client, loop, "/api/runs", {**params, "limit": 50})[0]
                        for _ in range(args.repeat)
                    ]
                    report(name, samples)
                deep = []
                for _ in range(args.repeat):
                    cursor, total = None, 0.0
                    for _page in range(50):
                        params: dict[str, Any] = {"limit": 50}
                        if cursor:
                            params["cursor"] = cursor
                        elapsed, body = timed(client, loop, "/api/runs", params)
                        total, cursor = elapsed, body["nextCursor"]
                    deep.append(total)
                report("page 50 (following cursors)", deep)
                for name, params in {
                    "counts (all)": {},
                    "counts (one workflow)": {"workflow": "contact-journey"},
                }.items():
                    samples = [
                        timed(client, loop, "/api/runs/counts", params)[0]
                        for _ in range(args.repeat)
                    ]
                    report(name, samples)
                run_id = long_run(engine)
                print("What the run viewer polls, for a run of 500 history rows:")
                for name, url in {
                    "GET /api/runs/{id}": f"/api/runs/{run_id}",
                    "GET /api/runs/{id}/steps": f"/api/runs/{run_id}/steps",
                    "GET /api/runs?parent={id}": f"/api/runs?parent={run_id}&limit=100",
                }.items():
                    samples = [timed(client, loop, url, {})[0] for _ in range(args.repeat)]
                    report(name, samples)
            finally:
                loop.run_until_complete(client.aclose())
                loop.close()


if __name__ == "__main__":
    main()
