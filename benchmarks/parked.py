"""A million parked runs on PostgreSQL: ``python benchmarks/parked.py [--db URL] [--runs 1000000]
[--due 100000] [--workers 1,4]``.

1. In a fresh database ``flowpin_parked``, park one real run on ``event.wait`` and one on
   ``time.wait`` with a worker, then copy them with ``INSERT … SELECT generate_series`` into
   ``--runs`` parked runs (rows and waits shaped exactly like the templates: status WAITING,
   ``wake_at`` NULL, no lease, one open wait each). The seeding time is printed. (A timer
   run's state keeps the template's ``due`` text; only ``waits.due_at`` decides when it fires.)
2. Memory: the RSS of one idle ``flowpin worker`` process on an empty database, then over the
   parked runs (sampled for a few seconds each): it must be flat, not proportional.
3. Timer wake-up rate: for each worker count, ``--due`` timer waits become due at once (one
   UPDATE of their ``due_at`` plus the NOTIFY a timer write sends); the rate is measured until
   every one of those runs has passed its wait (fired/s and finished/s), with the worker RSS.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from postgres import (
    DEFAULT_DB,
    RUN_TAG,
    drop_database,
    libpq,
    listening,
    load,
    recreate_database,
)

DATABASE = f"flowpin_parked_{RUN_TAG}"  # this run's own: never drops another database
FAR = "2027-06-01T00:00:00Z"


def timer_definition() -> dict[str, object]:
    return {
        "key": "parked-timer",
        "steps": [
            {"id": "nap", "type": "time.wait", "config": {"until": {"$expr": "payload.due"}}},
            {"id": "done", "type": "state.set", "config": {"state": "DONE"}},
        ],
    }


def event_definition() -> dict[str, object]:
    return {
        "key": "parked-event",
        "steps": [
            {
                "id": "wait",
                "type": "event.wait",
                "config": {"eventName": "go", "correlationKey": {"$expr": "payload.k"}},
            },
            {"id": "done", "type": "state.set", "config": {"state": "DONE"}},
        ],
    }


def park_templates(url: str) -> tuple[str, str]:
    """One real run parked on each kind of wait, by a real worker pass; their ids."""
    from flowpin.engine import Engine

    with Engine(url) as engine:
        engine.publish(timer_definition())
        engine.publish(event_definition())
        timer = engine.start("parked-timer", {"due": FAR}, subject="template-timer")
        event = engine.start("parked-event", {"k": "template"}, subject="template-event")
        engine.run_worker(until_idle=True)
        for run_id in (timer, event):
            assert engine.get_run(run_id)["status"] == "WAITING"
    return timer, event


RUN_COLUMNS = (
    "tenant_id, workflow_id, workflow_key, version_id, version_number, status, current_step, "
    "trigger, created_at, updated_at, claim_count"
)
WAIT_COLUMNS = (
    "tenant_id, token, step_id, kind, event_name, filter, filter_envelope, reason, ref_id, "
    "due_at, status, created_at"
)


def seed(url: str, template: str, first: int, last: int, kind: str, wave: int = 0) -> None:
    """Copies of the template run ``first..last`` (ids ``md5(n)::uuid``), with their waits.
    Event runs get their own correlation key ``k<n>`` (payload, state and wait alike); timer
    runs are tagged by subject ``wave-<k>``, one wave per ``wave`` runs (found by index)."""
    run_id = "md5(g::text)::uuid::text"
    subject = f"'wave-' || ((g - {first}) / {wave})" if wave else "NULL"
    if kind == "event":
        payload = "jsonb_build_object('k', 'k' || g)"
        state = "jsonb_set(jsonb_set(r.state, '{root,in,correlationKey}', to_jsonb('k' || g)), "
        state += "'{envelope,payload}', jsonb_build_object('k', 'k' || g))"
        correlation = "'k' || g"
    else:
        payload, state, correlation = "r.payload", "r.state", "NULL"
    with psycopg.connect(libpq(url)) as conn:
        conn.execute(
            f"INSERT INTO runs (id, subject, payload, state, {RUN_COLUMNS}) "
            f"SELECT {run_id}, {subject}, {payload}, {state}, {RUN_COLUMNS} "
            "FROM runs r, generate_series(%s::int, %s::int) g WHERE r.id = %s",
            (first, last, template),
        )
        conn.execute(
            f"INSERT INTO waits (run_id, correlation_key, {WAIT_COLUMNS}) "
            f"SELECT {run_id}, {correlation}, {WAIT_COLUMNS} "
            "FROM waits w, generate_series(%s::int, %s::int) g "
            "WHERE w.run_id = %s AND w.status = 'open'",
            (first, last, template),
        )


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def workers(url: str, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    flowpin = str(Path(sys.executable).parent / "flowpin")
    procs = [subprocess.Popen([flowpin, "worker", "--db", url]) for _ in range(count)]
    try:
        deadline = time.monotonic() + 60
        while listening(url, DATABASE) < count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("workers did not start")
            time.sleep(0.1)
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(2)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def idle_rss(url: str, seconds: float) -> list[float]:
    """RSS samples (MB) of one worker process idling for ``seconds``."""
    with workers(url, 1) as procs:
        samples = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            samples.append(rss_mb(procs[0].pid))
            time.sleep(0.5)
    return samples


def count(url: str, sql: str, *args: object) -> int:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute(sql, args).fetchone()
    return int(row[0]) if row else 0


def wake_wave(url: str, wave: int, total: int, count_workers: int) -> dict[str, float]:
    """Make the timers of the runs of ``wave`` due now; time until all fired and finished."""
    subject = f"wave-{wave}"
    of_wave = "FROM waits w JOIN runs r ON r.id = w.run_id WHERE r.subject = %s"
    with workers(url, count_workers) as procs:
        time.sleep(1.0)
        with psycopg.connect(libpq(url)) as conn:
            conn.execute(
                "UPDATE waits SET due_at = now() FROM runs r WHERE r.id = waits.run_id "
                "AND r.subject = %s AND waits.status = 'open'",
                (subject,),
            )
            conn.execute("SELECT pg_notify('flowpin_wake', '')")
            conn.commit()
        t0 = time.time()
        peak = max(rss_mb(p.pid) for p in procs)
        deadline = time.monotonic() + 600
        while True:
            done = count(
                url,
                "SELECT count(*) FROM runs WHERE subject = %s AND status = 'SUCCEEDED'",
                subject,
            )
            peak = max(peak, *(rss_mb(p.pid) for p in procs))
            if done == total:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {total} runs finished")
            time.sleep(0.25)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM max(w.resolved_at)), extract(epoch FROM max(r.finished_at))"
            f" {of_wave}",
            (subject,),
        ).fetchone()
    assert row is not None
    fired_elapsed = float(row[0]) - t0
    done_elapsed = float(row[1]) - t0
    return {
        "fired_per_s": total / fired_elapsed,
        "finished_per_s": total / done_elapsed,
        "fired_s": fired_elapsed,
        "finished_s": done_elapsed,
        "peak_rss_mb": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=os.environ.get("FLOWPIN_BENCH_PG", DEFAULT_DB))
    parser.add_argument("--runs", type=int, default=1_000_000, help="parked runs in total")
    parser.add_argument("--due", type=int, default=100_000, help="timers made due per wave")
    parser.add_argument("--workers", default="1,4", help="one wave per worker count")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    url = recreate_database(args.db, DATABASE)
    print(f"server: {args.db.split('@')[-1]}  cores: {os.cpu_count()}  {load()}")
    try:
        timer, event = park_templates(url)
        empty = idle_rss(url, 4)
        print(f"idle worker RSS, 2 parked runs: {min(empty):.1f}–{max(empty):.1f} MB")

        timers = args.due * len(counts)
        events = args.runs - timers
        t0 = time.perf_counter()
        seed(url, timer, 1, timers, "timer", wave=args.due)
        seed(url, event, timers + 1, timers + events, "event")
        seeded = time.perf_counter() - t0
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE runs")
            conn.execute("VACUUM ANALYZE waits")
        analyzed = time.perf_counter() - t0 - seeded
        print(
            f"seeded {args.runs:,} parked runs ({timers:,} on time.wait, {events:,} on "
            f"event.wait) in {seeded:.1f}s with SQL (+{analyzed:.1f}s VACUUM ANALYZE), {load()}"
        )
        parked = idle_rss(url, 8)
        print(
            f"idle worker RSS, {args.runs:,} parked runs: {min(parked):.1f}–{max(parked):.1f} MB"
            f" (first {parked[0]:.1f}, last {parked[-1]:.1f}), {load()}"
        )
        for index, n in enumerate(counts):
            wave = wake_wave(url, index, args.due, n)
            print(
                f"{n} worker(s): {args.due:,} due timers fired in {wave['fired_s']:.2f}s "
                f"({wave['fired_per_s']:,.0f}/s), runs finished in {wave['finished_s']:.2f}s "
                f"({wave['finished_per_s']:,.0f} runs/s); peak worker RSS "
                f"{wave['peak_rss_mb']:.0f} MB; {load()}"
            )
    finally:
        if args.keep:
            print(f"kept the database {DATABASE}")
        else:
            drop_database(args.db, DATABASE)


if __name__ == "__main__":
    main()
