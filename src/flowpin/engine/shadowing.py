"""Shadow replay against the database: read recorded runs and re-evaluate a version against
them with ``runtime.shadow`` (SPEC §5 ``replay(version, runs)``). Read-only: one read
transaction, no action called, nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowpin.definitions.models import Definition
from flowpin.definitions.validate import ensure_valid
from flowpin.errors import FlowpinError
from flowpin.runtime.decisions import RunInfo
from flowpin.runtime.interpreter import ActionRetry
from flowpin.runtime.shadow import Recorded, Recording, shadow
from flowpin.store.database import Connection
from flowpin.store.history import step_rows_of
from flowpin.store.ledger import succeeded_outputs
from flowpin.store.run_lists import latest_runs, workflow_runs_among
from flowpin.store.schedules import start_meta
from flowpin.store.waits import open_and_resolved_waits
from flowpin.store.workflows import latest_number, version_row, workflow_row

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
            meta=start_meta(row.trigger, row.idempotency_key),
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
    latest = latest_number(conn, workflow.id)
    return definition, int(latest or 0) + 1


def _runs(
    conn: Connection, tenant_id: str, workflow_id: int, runs: list[str] | int
) -> tuple[list[Any], list[str]]:
    if isinstance(runs, int):
        if not 1 <= runs <= MAX_RUNS:
            raise ShadowRequestError(f"last must be between 1 and {MAX_RUNS}")
        return latest_runs(conn, tenant_id, workflow_id, runs), []
    wanted = list(dict.fromkeys(runs))
    if not wanted or len(wanted) > MAX_RUNS:
        raise ShadowRequestError(f"name between 1 and {MAX_RUNS} runs")
    found = workflow_runs_among(conn, tenant_id, workflow_id, wanted)
    return [found[r] for r in wanted if r in found], [r for r in wanted if r not in found]


def _recording(conn: Connection, row: Any) -> Recording:
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
        for h in step_rows_of(conn, row.id)
    ]
    waits = open_and_resolved_waits(conn, row.id)
    timed_out = frozenset(
        w.token
        for w in waits
        if w.status == "resolved" and w.due_at is not None and w.resolved_at >= w.due_at
    )
    waiting = frozenset(w.token for w in waits if w.status == "open")
    outputs = succeeded_outputs(conn, row.id)
    return Recording(recorded, row.status, row.output, timed_out, waiting, outputs)
