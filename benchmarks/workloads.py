"""The benchmark workloads of issue 3, shared by ``runtime.py`` (SQLite or any URL, one
in-process worker) and ``postgres.py`` (worker processes): W1 sequential action steps with a
trivial handler, W2 a run parked on an event, W3 pure steps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from flowpin.registry.actions import action


class Count(BaseModel):
    n: int = 0


@action("bench.increment", version=1, effect="idempotent")
def increment(data: Count) -> Count:
    return Count(n=data.n + 1)


def w1_definition(steps: int = 10) -> dict[str, Any]:
    return {
        "key": "bench-w1",
        "steps": [
            {
                "id": f"s{i}",
                "type": "action.call",
                "config": {
                    "actionId": "bench.increment",
                    "version": 1,
                    "inputMapping": {"n": {"$expr": "$exists(vars.c) ? vars.c.n : 0"}},
                    "saveAs": "vars.c",
                },
            }
            for i in range(steps)
        ],
        "output": {"$expr": "vars.c.n"},
    }


def w2_definition(correlation_key: Any = None) -> dict[str, Any]:
    """``correlation_key``: the wait's key expression (default: the run's subject)."""
    config: dict[str, Any] = {"eventName": "bench.go", "timeoutMs": 3_600_000, "saveAs": "vars.e"}
    if correlation_key is not None:
        config["correlationKey"] = correlation_key
    return {
        "key": "bench-w2",
        "steps": [
            {"id": "wait", "type": "event.wait", "config": config},
            {"id": "done", "type": "state.set", "config": {"state": "DONE"}},
        ],
    }


def w3_definition(steps: int = 20) -> dict[str, Any]:
    body: list[dict[str, Any]] = []
    for i in range(steps):
        if i % 2:
            body.append({"id": f"p{i}", "type": "state.set", "config": {"state": f"S{i}"}})
        else:
            body.append(
                {
                    "id": f"p{i}",
                    "type": "transform.assign",
                    "config": {"assign": {f"vars.v{i}": {"$expr": f"{i} + 1"}}},
                }
            )
    return {"key": "bench-w3", "steps": body}
