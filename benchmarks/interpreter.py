"""Interpreter micro-benchmark: ``python benchmarks/interpreter.py [--runs 2000]``.

µs per ``advance`` with no database, the interpreter's share of the W1/W3 budgets:

- sequential: 10 ``action.call`` steps; each advance applies one ActionResult, saves the output
  and emits the next CallAction (what the worker does per action step);
- pure: 20 ``transform.assign``/``state.set`` steps run by one advance from a new run;
- forEach: 100 items × 1 action step at concurrency 10 (one advance per result).

The advances of whole runs are recorded first (the state round-tripped through JSON between
advances, as the worker stores it), then replayed in a timed loop: CPU time of this process
(``time.process_time``), best of ``--repeat`` rounds, so other processes on the machine disturb
the figures less than wall-clock time would. µs/advance averages the first advance of each run
(from ``start_state``) with the ones that apply an action result.
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


Recorded = list[tuple[dict[str, Any], RunInfo, list[ActionResult]]]


def record(definition: Definition, runs: int) -> Recorded:
    """Play ``runs`` runs; return every (state, run, inputs) an advance got.

    Each state is a fresh JSON round trip of the previous outcome's state, as the worker stores
    it. The first advance of each run (from ``start_state``) has no inputs."""
    recorded: Recorded = []
    for number in range(runs):
        run = RunInfo(f"run-{number}", definition.key, 1, None, T0)
        state = start_state(definition, {"n": 0})
        recorded.append((state, run, []))
        outcome = advance(definition, state, run)
        pending = [c for c in outcome.commands if isinstance(c, CallAction)]
        while not outcome.status.terminal:
            state = json.loads(json.dumps(outcome.state))
            call = pending.pop(0)
            inputs = [ActionResult(call.token, call.attempt, T0, output={"n": call.input["n"] + 1})]
            recorded.append((state, run, inputs))
            outcome = advance(definition, state, run, inputs)
            pending.extend(c for c in outcome.commands if isinstance(c, CallAction))
        assert outcome.status.value == "SUCCEEDED", outcome.error
    return recorded


def replay(definition: Definition, recorded: Recorded) -> float:
    """CPU seconds to run every recorded advance once (the states are not modified by it)."""
    begin = time.process_time()
    for state, run, inputs in recorded:
        advance(definition, state, run, inputs)
    return time.process_time() - begin


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
        recorded = record(definition, runs)
        replay(definition, recorded)  # warm up
        spent = min(replay(definition, recorded) for _ in range(args.repeat))
        per_advance = spent / len(recorded) * 1e6
        per_step = spent / (runs * steps_per_run) * 1e6
        print(
            f"{name:40s} {per_advance:8.1f} µs/advance  {per_step:8.1f} µs/step  "
            f"({len(recorded)} advances, {spent:.2f} s)"
        )


if __name__ == "__main__":
    main()
