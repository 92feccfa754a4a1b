"""Runs, history and tasks as JSON — the shape `flowpin run`, `flowpin runs show` and the API
print (a stable contract: scripts rely on it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowpin.errors import NotFoundError
from flowpin.store.database import Connection
from flowpin.store.history import history_of
from flowpin.store.runs import run_of, run_progress
from flowpin.store.tasks import task_of, tasks_of
from flowpin.store.waits import open_waits_of
from flowpin.types import TERMINAL_STATUSES


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def run_row(conn: Connection, tenant_id: str, run_id: str) -> Any:
    row = run_of(conn, tenant_id, run_id)
    if row is None:
        raise NotFoundError(f"run {run_id} not found", code="run.not_found")
    return row


def run_settled(conn: Connection, tenant_id: str, run_id: str, now: Any) -> bool:
    """True when the run has nothing to do right now: it finished, or it is parked with no due
    work (no timer due, no event or answer waiting to be applied). Unknown runs raise."""
    row = run_progress(conn, tenant_id, run_id)
    if row is None:
        raise NotFoundError(f"run {run_id} not found", code="run.not_found")
    if row.status in TERMINAL_STATUSES:
        return True
    return row.status == "WAITING" and (row.wake_at is None or row.wake_at > now)


def waiting_for(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    result = []
    for row in open_waits_of(conn, run_id):
        item: dict[str, Any] = {"kind": row.kind, "stepId": row.step_id, "token": row.token}
        if row.kind == "event":
            item.update(eventName=row.event_name, correlationKey=row.correlation_key)
        if row.kind == "timer":
            item["reason"] = row.reason
        if row.kind == "task":
            item["taskId"] = row.ref_id
        if row.kind == "child":
            item["childRunId"] = row.ref_id
        item["dueAt"] = iso(row.due_at)
        result.append(item)
    return result


def run_view(
    conn: Connection, tenant_id: str, run_id: str, *, history: bool = False
) -> dict[str, Any]:
    return row_view(conn, run_row(conn, tenant_id, run_id), history=history)


def row_view(conn: Connection, row: Any, *, history: bool = False) -> dict[str, Any]:
    """``run_view`` of a row already read."""
    envelope = (row.state or {}).get("envelope", {})
    view: dict[str, Any] = {
        "runId": row.id,
        "workflow": row.workflow_key,
        "version": row.version_number,
        "status": row.status,
        "subject": row.subject,
        "output": row.output,
        "state": {
            "payload": envelope.get("payload"),
            "vars": envelope.get("vars", {}),
            "meta": envelope.get("meta", {}),
        },
        "error": row.error,
        # A run that ended has no open wait (store.runs.close_runs closes them): no read.
        "waitingFor": [] if row.status in TERMINAL_STATUSES else waiting_for(conn, row.id),
        "currentStep": row.current_step,
        "parentRunId": row.parent_run_id,
        "concurrencyKey": row.concurrency_key,
        "createdAt": iso(row.created_at),
        "finishedAt": iso(row.finished_at),
    }
    if history:
        view["history"] = globals()["history"](conn, row.id)
    return view


def written_view(values: dict[str, Any]) -> dict[str, Any]:
    """``run_view`` of a run just inserted with ``values`` (nothing done yet: no waits, no
    step, no output), without reading it back. Keep it field for field with ``row_view``
    (tests/api/test_start_commits.py compares the two)."""
    envelope = (values.get("state") or {}).get("envelope", {})
    return {
        "runId": values["id"],
        "workflow": values["workflow_key"],
        "version": values["version_number"],
        "status": values["status"],
        "subject": values["subject"],
        "output": None,
        "state": {
            "payload": envelope.get("payload"),
            "vars": envelope.get("vars", {}),
            "meta": envelope.get("meta", {}),
        },
        "error": values["error"],
        "waitingFor": [],
        "currentStep": None,
        "parentRunId": values["parent_run_id"],
        "concurrencyKey": values.get("concurrency_key"),
        "createdAt": iso(values["created_at"]),
        "finishedAt": iso(values["finished_at"]),
    }


def history(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    return [
        {
            "stepId": r.step_id,
            "token": r.token,
            "type": r.step_type,
            "version": r.version_number,
            "attempt": r.attempt,
            "status": r.status,
            "at": iso(r.logical_time),
            "startedAt": iso(r.started_at),
            "durationMs": _duration_ms(r.started_at, r.logical_time),
            "recordedAt": iso(r.recorded_at),
            "input": r.input,
            "output": r.output,
            "error": r.error,
            "detail": r.detail,
        }
        for r in history_of(conn, run_id)
    ]


def _duration_ms(started: datetime | None, ended: datetime | None) -> int | None:
    if started is None or ended is None:
        return None
    return max(0, round((ended - started).total_seconds() * 1000))


def task_row(conn: Connection, tenant_id: str, task_id: str) -> Any:
    row = task_of(conn, tenant_id, task_id)
    if row is None:
        raise NotFoundError(f"task {task_id} not found", code="task.not_found")
    return row


def task_view(row: Any) -> dict[str, Any]:
    return {
        "taskId": row.id,
        "runId": row.run_id,
        "workflow": row.workflow,
        "subject": row.subject,
        "stepId": row.step_id,
        "title": row.title,
        "description": row.description,
        "assignee": row.assignee,
        "formSchema": row.form_schema,
        "status": row.status,
        "data": row.data,
        "dueAt": iso(row.due_at),
        "createdAt": iso(row.created_at),
        "completedAt": iso(row.completed_at),
        "completedBy": row.completed_by,
    }


def list_tasks(
    conn: Connection,
    tenant_id: str,
    *,
    status: str | None,
    assignee: str | None,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    rows = tasks_of(conn, tenant_id, status=status, assignee=assignee, run_id=run_id)
    return [task_view(r) for r in rows]
