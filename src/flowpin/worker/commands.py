"""Carrying out a run's commands in its checkpoint's transaction: waits for events, timers and
tasks, child runs, emitted events, canceled waits. (Action calls go through the ledger,
``worker.call_ledger``.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flowpin.runtime.decisions import (
    CallAction,
    CancelWait,
    CreateTask,
    EmitEvent,
    StartChild,
    WaitForEvent,
    WaitUntil,
)
from flowpin.store.database import Connection
from flowpin.store.events import submit_event
from flowpin.store.runs import NewRun, check_payload, insert_runs
from flowpin.store.tasks import NewTask, insert_task
from flowpin.store.waits import (
    EndedWait,
    cancel_token_waits,
    insert_wait,
    match_buffered_event,
    resolve_waits,
)
from flowpin.store.workflows import version_row, workflow_row
from flowpin.worker.checkpoint_batch import Services
from flowpin.worker.claimed import ClaimedRun


def apply_command(
    conn: Connection, run: ClaimedRun, command: Any, now: datetime, services: Services
) -> None:
    if isinstance(command, CallAction):
        return
    if isinstance(command, WaitForEvent):
        _park_event(conn, run, command, now)
    elif isinstance(command, WaitUntil):
        insert_wait(
            conn,
            run.tenant_id,
            run.id,
            command.token,
            command.step_id,
            "timer",
            now,
            due_at=command.due_at,
            reason=command.reason,
        )
    elif isinstance(command, CreateTask):
        _create_task(conn, run, command, now)
    elif isinstance(command, StartChild):
        _start_child(conn, run, command, now, services)
    elif isinstance(command, EmitEvent):
        submit_event(
            conn,
            run.tenant_id,
            command.name,
            command.key,
            command.payload,
            now,
            services.definition,
            services.schemas,
            event_id=command.event_id,
            source_run_id=run.id,
        )
    elif isinstance(command, CancelWait):
        cancel_token_waits(conn, run.id, command.token, now)


def _park_event(conn: Connection, run: ClaimedRun, command: WaitForEvent, now: datetime) -> None:
    """Wait for the event, unless one buffered for it (``ttlMs``) resolves the wait at once."""
    wait_id = insert_wait(
        conn,
        run.tenant_id,
        run.id,
        command.token,
        command.step_id,
        "event",
        now,
        event_name=command.event_name,
        correlation_key=command.correlation_key,
        filter=command.filter,
        filter_envelope=command.filter_envelope,
        due_at=command.due_at,
    )
    match_buffered_event(
        conn,
        run.tenant_id,
        run.id,
        wait_id,
        command.token,
        command.event_name,
        command.correlation_key,
        command.filter,
        command.filter_envelope,
        now,
    )


def _create_task(conn: Connection, run: ClaimedRun, command: CreateTask, now: datetime) -> None:
    task = NewTask(
        id=command.task_id,
        tenant_id=run.tenant_id,
        run_id=run.id,
        token=command.token,
        step_id=command.step_id,
        title=command.title,
        description=command.description,
        assignee=command.assignee,
        form_schema=command.form_schema,
        due_at=command.due_at,
    )
    if not insert_task(conn, task, now):
        return
    insert_wait(
        conn,
        run.tenant_id,
        run.id,
        command.token,
        command.step_id,
        "task",
        now,
        ref_id=command.task_id,
        due_at=command.due_at,
    )


def _start_child(
    conn: Connection, run: ClaimedRun, command: StartChild, now: datetime, services: Services
) -> None:
    """Create the child run (FAILED with ``limit.depth`` when calls nest too deep; the depth
    is the state key ``d``) and, when the parent waits for it, the parent's wait. A child that
    cannot be started (no such workflow, a bad payload) fails the parent's call, not the
    parent."""
    error: dict[str, Any] | None = None
    depth = int(run.state.get("d", 0)) + 1
    failure = None
    limit = services.max_call_depth
    if limit is not None and depth > limit:
        failure = {
            "category": "LimitError",
            "code": "limit.depth",
            "message": f"control.callWorkflow nested {depth} deep; the limit is {limit} "
            f"(does {command.workflow_key!r} call itself, directly or through others?)",
            "stepId": None,
            "data": {"limit": limit, "depth": depth, "parentRunId": run.id},
        }
    try:
        workflow = workflow_row(conn, run.tenant_id, command.workflow_key)
        version = version_row(
            conn, workflow.id, None if command.version == "latest" else int(command.version)
        )
        definition = services.definition(conn, version.id)
        check_payload(definition, command.payload, services.schemas, now)
    except Exception as exc:  # the parent sees the failure as an ActionError, not a crash
        error = {"category": "ActionError", "message": f"child workflow not started: {exc}"}
    if error is None:
        child = NewRun(
            tenant_id=run.tenant_id,
            workflow_id=workflow.id,
            workflow_key=command.workflow_key,
            version_id=version.id,
            version_number=version.number,
            definition=definition,
            payload=command.payload,
            subject=run.subject,
            run_id=command.child_run_id,
            parent_run_id=run.id,
            parent_token=command.token if command.wait else None,
            trigger="parent",
            depth=depth,
            failure=failure,
        )
        insert_runs(conn, [child], now)
        error = failure
    if command.wait:
        wait_id = insert_wait(
            conn,
            run.tenant_id,
            run.id,
            command.token,
            command.step_id,
            "child",
            now,
            ref_id=command.child_run_id,
        )
        if error is not None:
            body = {"status": "FAILED", "output": None, "error": error}
            resolve_waits(
                conn, [EndedWait(wait_id, run.id, command.token, "child", body)], now, wake=False
            )
