"""Interpreter micro-benchmark: ``python benchmarks/interpreter.py [--runs 2000]``.

µs per ``advance`` with no database, the interpreter's share of the W1/W3 budgets:

- sequential: 10 ``action.call`` steps; each advance applies one ActionResult, saves the output
  and emits the next CallAction (what the worker does per action step);
- pure: 20 ``transform.assign``/``state.set`` steps run by one advance from a new run;
- forEach: 100 items × 1 action step at concurrency 10 (one advance per result).

The state is round-tripped through JSON between advances, as the worker stores it (not timed).
Times are CPU time of this process (``time.process_time``), best of ``--repeat`` rounds, so other
processes on the machine disturb them less than wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from flowpin.definitions.models import Definition
from flowpin.runtime.decisions import ActionResult, CallAction, RunInfo
from flowpin.runtime.interpreter import advance, start_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sequential() -> Definition:
    steps = [
        {
            "id": f"step{i}",
            "type": "action.call",
            "config": {
                "actionId": "bench.increment",
                "version": 1,
                "inputMapping": {"n": {"$expr": f"vars.r{i - 1}.n" if i else "payload.n"}},
                "saveAs": f"vars.r{i}",
            },
        }
        for i in range(10)
    ]
    return Definition.model_validate({"key": "w1", "steps": steps, "output": {"$expr": "vars.r9"}})


def pure() -> Definition:
    steps: list[dict[str, Any]] = []
    for i in range(20):
        if i % 4 == 0:
            steps.append({"id": f"s{i}", "type": "state.set", "config": {"state": f"S{i}"}})
        else:
            steps.append(
                {
                    "id": f"s{i}",
                    "type": "transform.assign",
                    "config": {"assign": {f"vars.v{i}": {"$expr": "payload.n + 1"}}},
                }
            )
    return Definition.model_validate({"key": "w3", "steps": steps})


def for_each() -> Definition:
    return Definition.model_validate(
        {
            "key": "fe",
            "steps": [
                {
                    "id": "loop",
                    "type": "control.forEach",
                    "items": {"$expr": "[1..100]"},
                    "concurrency": 10,
                    "collect": {"$expr": "vars.r"},
                    "saveAs": "vars.out",
                    "body": [
                        {
                            "id": "call",
                            "type": "action.call",
                            "config": {
                                "actionId": "bench.increment",
                                "version": 1,
                                "inputMapping": {"n": {"$expr": "vars.item"}},
                                "saveAs": "vars.r",
                            },
                        }
                    ],
                }
            ],
        }
    )


def drive(
    definition: Definition, runs: int, *, one_result_per_advance: bool = True
) -> tuple[int, float]:
    """Play ``runs`` runs to completion; return (advances, seconds spent inside advance)."""
    advances = 0
    spent = 0.0
    for number in range(runs):
        run = RunInfo(f"run-{number}", definition.key, 1, None, T0)
        state = start_state(definition, {"n": 0})
        begin = time.process_time()
        outcome = advance(definition, state, run)
        spent += time.process_time() - begin
        advances += 1
        pending = [c for c in outcome.commands if isinstance(c, CallAction)]
        while not outcome.status.terminal:
            state = json.loads(json.dumps(outcome.state))
            call = pending.pop(0)
            result = ActionResult(call.token, call.attempt, T0, output={"n": call.input["n"] + 1})
            begin = time.process_time()
            outcome = advance(definition, state, run, [result])
            spent += time.process_time() - begin
            advances += 1
            pending.extend(c for c in outcome.commands if isinstance(c, CallAction))
        assert outcome.status.value == "SUCCEEDED", outcome.error
    return advances, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name, definition, runs, steps_per_run in (
        ("sequential 10 action steps", sequential(), args.runs, 10),
        ("pure 20 steps", pure(), args.runs, 20),
        ("forEach 100 x action, concurrency 10", for_each(), max(1, args.runs // 20), 100),
    ):
        drive(definition, max(1, runs // 10))  # warm up caches
        advances, spent = min(
            (drive(definition, runs) for _ in range(args.repeat)), key=lambda result: result[1]
        )
        per_advance = spent / advances * 1e6
        per_step = spent / (runs * steps_per_run) * 1e6
        print(
            f"{name:40s} {per_advance:8.1f} µs/advance  {per_step:8.1f} µs/step  "
            f"({advances} advances, {spent:.2f} s)"
        )


if __name__ == "__main__":
    main()
