"""Shadow replay against the database: read recorded runs and re-evaluate a version against
them with ``runtime.shadow`` (SPEC §5 ``replay(version, runs)``). Read-only: one read
transaction, no action called, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flowpin.definitions.models import Definition
from flowpin.definitions.validate import ensure_valid
from flowpin.errors import FlowpinError
from flowpin.runtime.decisions import RunInfo
from flowpin.runtime.interpreter import ActionRetry
from flowpin.runtime.shadow import Recorded, Recording, shadow
from flowpin.store import tables as t
from flowpin.store.workflows import version_row, workflow_row

DRAFT = "draft"
MAX_RUNS = 1000
"""Runs one request re-evaluates at most."""


class ShadowRequestError(FlowpinError):
    code = "shadow.invalid"


def shadow_runs(
    conn: Connection,
    tenant_id: str,
    key: str,
    version: int | str,
    runs: list[str] | int,
    definition_in: Callable[[Connection, int], Definition],
    *,
    catalog: Any = None,
    action_retry: ActionRetry | None = None,
    mask: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """The shadow report of ``version`` (a number, or ``"draft"``: the workflow's draft, which
    must be valid) against ``runs`` (ids, or the latest N runs of the workflow, any version)."""
    if isinstance(version, str) and version != DRAFT:
        raise ShadowRequestError(f"version must be a number or {DRAFT!r}, not {version!r}")
    workflow = workflow_row(conn, tenant_id, key)
    if version == DRAFT:
        definition, number = _draft(conn, workflow, catalog)
    else:
        target = version_row(conn, workflow.id, int(version))
        definition, number = definition_in(conn, target.id), target.number
    rows, missing = _runs(conn, tenant_id, workflow.id, runs)
    reports: list[dict[str, Any]] = [
        {"runId": run_id, "result": "not-found", "divergence": None, "stopped": None}
        for run_id in missing
    ]
    for row in rows:
        info = RunInfo(row.id, key, number, row.subject, row.created_at, tenant_id)
        found = shadow(
            definition,
            info,
            row.payload,
            _recording(conn, row),
            action_retry=action_retry,
            mask=mask,
        )
        reports.append(
            {
                "runId": row.id,
                "recordedVersion": row.version_number,
                "recordedStatus": row.status,
                **found.to_dict(),
            }
        )
    summary: dict[str, int] = {"runs": len(reports)}
    for report in reports:
        summary[report["result"]] = summary.get(report["result"], 0) + 1
    shown = DRAFT if version == DRAFT else number
    return {"workflow": key, "version": shown, "summary": summary, "runs": reports}


def _draft(conn: Connection, workflow: Any, catalog: Any) -> tuple[Definition, int]:
    """The draft as a definition (``DefinitionError`` with its problems when it is not
    valid), and the number it would get when published."""
    if workflow.draft is None:
        raise ShadowRequestError(f"workflow {workflow.key!r} has no draft", code="draft.missing")
    definition = ensure_valid({**workflow.draft, "key": workflow.key}, catalog)
    latest = conn.execute(
        sa.select(sa.func.max(t.workflow_versions.c.number)).where(
            t.workflow_versions.c.workflow_id == workflow.id
        )
    ).scalar()
    return definition, int(latest or 0) + 1


def _runs(
    conn: Connection, tenant_id: str, workflow_id: int, runs: list[str] | int
) -> tuple[list[Any], list[str]]:
    columns = (
        t.runs.c.id,
        t.runs.c.subject,
        t.runs.c.status,
        t.runs.c.version_number,
        t.runs.c.created_at,
        t.runs.c.payload,
        t.runs.c.output,
    )
    of_workflow = sa.and_(t.runs.c.tenant_id == tenant_id, t.runs.c.workflow_id == workflow_id)
    if isinstance(runs, int):
        if not 1 <= runs <= MAX_RUNS:
            raise ShadowRequestError(f"last must be between 1 and {MAX_RUNS}")
        query = (
            sa.select(*columns)
            .where(of_workflow)
            .order_by(t.runs.c.created_at.desc(), t.runs.c.id.desc())
            .limit(runs)
        )
        return list(conn.execute(query).all()), []
    wanted = list(dict.fromkeys(runs))
    if not wanted or len(wanted) > MAX_RUNS:
        raise ShadowRequestError(f"name between 1 and {MAX_RUNS} runs")
    found = {
        row.id: row
        for row in conn.execute(sa.select(*columns).where(of_workflow, t.runs.c.id.in_(wanted)))
    }
    return [found[r] for r in wanted if r in found], [r for r in wanted if r not in found]


def _recording(conn: Connection, row: Any) -> Recording:
    history = t.step_history
    recorded = [
        Recorded(
            step_id=h.step_id,
            token=h.token,
            type=h.step_type,
            attempt=h.attempt,
            status=h.status,
            at=h.logical_time,
            input=h.input,
            output=h.output,
            error=h.error,
        )
        for h in conn.execute(
            sa.select(history)
            .where(
                history.c.run_id == row.id,
                history.c.step_type.not_in(("migration", "operator")),  # no step's rows
            )
            .order_by(history.c.id)
        )
    ]
    waits = conn.execute(
        sa.select(t.waits.c.token, t.waits.c.status, t.waits.c.due_at, t.waits.c.resolved_at)
        .where(t.waits.c.run_id == row.id)
        .where(t.waits.c.status.in_(("open", "resolved")))
    ).all()
    timed_out = frozenset(
        w.token
        for w in waits
        if w.status == "resolved" and w.due_at is not None and w.resolved_at >= w.due_at
    )
    waiting = frozenset(w.token for w in waits if w.status == "open")
    ledger = t.action_ledger
    outputs = {
        entry.token: entry.output
        for entry in conn.execute(
            sa.select(ledger.c.token, ledger.c.output).where(
                ledger.c.run_id == row.id, ledger.c.status == "succeeded"
            )
        )
    }
    return Recording(recorded, row.status, row.output, timed_out, waiting, outputs)
