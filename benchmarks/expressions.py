"""Micro-benchmark of flowpin's expression layer.

Run: ``python benchmarks/expressions.py [--iterations N]``. Each expression is compiled once and
evaluated N times (default 10,000) against a realistic envelope, with flowpin's default limits
and a logical ``now``/``seed``, as the interpreter calls it. Reported: the best of five rounds,
in µs per evaluation, and the ratio to a trivial Python function call (the reference).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flowpin.expressions.jsonata import (
    DEFAULT_LIMITS,
    compile_cache_clear,
    compile_expression,
)
from flowpin.expressions.rules import evaluate_condition

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
SEED = 0x5EED

ENVELOPE: dict[str, Any] = {
    "payload": {
        "email": {
            "messageId": "<CAF=12345@mail.example.com>",
            "from": "Ann Example <ann@example.com>",
            "fromName": "Ann Example",
            "to": "support@helpdesk.example",
            "subject": "Order #4711 arrived damaged, please send a replacement",
            "body": "Hello,\n\n" + "The parcel arrived with a broken corner. " * 40,
            "attachments": [{"name": "photo.jpg", "size": 481_233}],
        }
    },
    "vars": {
        "ticket": {"id": "T-2026-0042", "priority": "high"},
        "contact": {"id": "c-981", "plan": "pro", "tags": ["vip", "beta"]},
        "items": [{"sku": f"SKU-{i:03}", "price": 4.5 + i, "qty": 1 + i % 3} for i in range(20)],
    },
    "meta": {"state": "TRIAGE"},
    "error": None,
    "run": {
        "id": "0b8e6c1e-5f7a-4a35-9f84-1f3c1b2a9d10",
        "workflowKey": "email-to-ticket",
        "version": 3,
        "subject": "<CAF=12345@mail.example.com>",
        "startedAt": "2026-11-22T09:29:58.120Z",
    },
}

EXPRESSIONS = {
    "regex filter": "payload.email.to ~> /support@/",
    "aggregation": "$sum(vars.items.(price * qty))",
    "string building": (
        '"[" & vars.ticket.id & "] " & $uppercase(vars.ticket.priority) & ": "'
        ' & $substring(payload.email.subject, 0, 40) & " (from " & payload.email.fromName & ")"'
    ),
}

RULE = {
    "all": [
        {"field": "vars.contact.plan", "op": "equals", "value": "pro"},
        {"field": "vars.contact.tags", "op": "contains", "value": "vip"},
        {"field": "run.startedAt", "op": "lessThan", "value": "2026-12-01"},
    ]
}


def best_of(rounds: int, iterations: int, body: Callable[[], object]) -> float:
    """Best time per call, in µs, over ``rounds`` rounds of ``iterations`` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(iterations):
            body()
        best = min(best, (time.perf_counter_ns() - start) / iterations / 1000)
    return best


def trivial(value: object) -> object:
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, rounds = args.iterations, args.rounds

    reference = best_of(rounds, n, lambda: trivial(ENVELOPE))
    rows: list[tuple[str, float, float | None, str]] = []
    for name, source in EXPRESSIONS.items():
        compile_cache_clear()
        start = time.perf_counter_ns()
        compiled = compile_expression(source)
        compile_us = (time.perf_counter_ns() - start) / 1000
        result = compiled.evaluate(ENVELOPE, now=NOW, seed=SEED, limits=DEFAULT_LIMITS)
        per_eval = best_of(
            rounds,
            n,
            lambda compiled=compiled: compiled.evaluate(
                ENVELOPE, now=NOW, seed=SEED, limits=DEFAULT_LIMITS
            ),
        )
        rows.append((name, per_eval, compile_us, repr(result)[:48]))
    cached = best_of(rounds, n, lambda: compile_expression(EXPRESSIONS["aggregation"]))
    rows.append(("compile (cache hit)", cached, None, ""))
    rule_result = evaluate_condition(RULE, ENVELOPE, now=NOW, seed=SEED)
    per_rule = best_of(rounds, n, lambda: evaluate_condition(RULE, ENVELOPE, now=NOW, seed=SEED))
    rows.append(("rule: all of 3 (no JSONata)", per_rule, None, repr(rule_result)))

    print(f"{n:,} evaluations per round, best of {rounds}; reference: a trivial Python call")
    print(f"takes {reference * 1000:.0f} ns.\n")
    header = f"{'case':<28} {'µs/eval':>8} {'× call':>8} {'compile µs':>11}  result"
    print(header)
    print("-" * len(header))
    for name, micros, compile_us, shown in rows:
        compiled_text = f"{compile_us:11.1f}" if compile_us is not None else f"{'':11}"
        print(f"{name:<28} {micros:8.2f} {micros / reference:8.0f} {compiled_text}  {shown}")


if __name__ == "__main__":
    main()
