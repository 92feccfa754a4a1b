"""What the rows a worker reads for a run become for the interpreter: inbox rows are inputs
(a wait resolved, a child finished), started ledger entries are the calls a previous claimant
left in flight."""

from __future__ import annotations

from typing import Any

from flowpin.runtime.decisions import CallAction, ChildFinished, Input, WaitResolved
from flowpin.types import RunStatus


def input_of(row: Any) -> Input:
    body = row.body or {}
    if row.kind == "child":
        return ChildFinished(
            token=row.token,
            at=row.at,
            status=RunStatus(body.get("status", "FAILED")),
            output=body.get("output"),
            error=body.get("error"),
        )
    if row.kind == "event":
        return WaitResolved(token=row.token, kind="event", at=row.at, event=body.get("event"))
    detail = body.get("detail")
    if row.kind == "task":
        return WaitResolved(
            token=row.token, kind="task", at=row.at, data=body.get("data"), detail=detail
        )
    kind = "timer" if row.kind == "timer" else "timeout"
    return WaitResolved(token=row.token, kind=kind, at=row.at, detail=detail)


def one_per_token(calls: list[CallAction]) -> list[CallAction]:
    """A call left in flight by a previous claimant is both in the checkpointed frames and a
    ``started`` ledger row; issued twice, its second copy was claimed again (and sent) while
    the first was still running. The first of each token is kept."""
    first: dict[str, CallAction] = {}
    for call in calls:
        first.setdefault(call.token, call)
    return list(first.values())


def call_of(row: Any) -> CallAction:
    return CallAction(
        token=row.token,
        step_id=row.step_id,
        action_id=row.action_id,
        version=row.action_version,
        input=row.input,
        idempotency_key=row.key,
        attempt=row.attempt,
        timeout_ms=row.timeout_ms,
    )
