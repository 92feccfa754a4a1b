"""Runs: start, list (filters, cursor), get, steps, cancel, resume, retry, rerun."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flowpin.api.auth import Admin, Caller, Editor, Viewer
from flowpin.api.schemas import PageLimit, ReplayBody, RetryBody, RunStart, VersionQuery

router = APIRouter(prefix="/runs", tags=["runs"])


@router.post("", status_code=201)
def start(who: Editor, body: RunStart, request: Request) -> dict[str, Any]:
    run_id = who.engine.start(
        body.workflow,
        body.payload,
        subject=body.subject,
        version=body.version,
        idempotency_key=body.idempotencyKey,
    )
    return _view(request, who, who.engine.get_run(run_id))


def _view(request: Request, who: Caller, view: dict[str, Any]) -> dict[str, Any]:
    """What a client sees of a run: key patterns and the workflow's redaction pointers
    masked (the stored run keeps its real values)."""
    masks = who.engine.core.masks_for_view(who.tenant, view)
    return request.app.state.redact.run(view, masks)  # type: ignore[no-any-return]


@router.get("")
def list_runs(
    who: Viewer,
    workflow: str | None = None,
    version: VersionQuery = None,
    status: str | None = None,
    subject: str | None = None,
    step: str | None = None,
    createdAfter: str | None = None,
    createdBefore: str | None = None,
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    return who.engine.page_runs(
        workflow=workflow,
        version=version,
        status=status,
        subject=subject,
        step=step,
        created_after=createdAfter,
        created_before=createdBefore,
        limit=limit,
        cursor=cursor,
    )


@router.get("/{run_id}")
def get_run(who: Viewer, run_id: str, request: Request) -> dict[str, Any]:
    return _view(request, who, who.engine.get_run(run_id))


@router.get("/{run_id}/steps")
def steps(who: Viewer, run_id: str, request: Request) -> dict[str, Any]:
    redact = request.app.state.redact
    masks = who.engine.core.masks_for_view(who.tenant, who.engine.get_run(run_id))
    return {"items": [redact.step(item, masks) for item in who.engine.history(run_id)]}


@router.post("/{run_id}/cancel")
def cancel(who: Admin, run_id: str, request: Request) -> dict[str, Any]:
    return _view(request, who, who.engine.cancel(run_id))


@router.post("/{run_id}/resume")
def resume(who: Admin, run_id: str, request: Request) -> dict[str, Any]:
    return _view(request, who, who.engine.resume(run_id))


@router.post("/{run_id}/retry")
def retry(
    who: Admin, run_id: str, request: Request, body: RetryBody | None = None
) -> dict[str, Any]:
    body = body or RetryBody()
    if body.dryRun:
        return who.engine.retry_preview(run_id, from_step=body.fromStep)
    return _view(
        request, who, who.engine.retry(run_id, from_step=body.fromStep, payload=body.payload)
    )


@router.post("/{run_id}/rerun", status_code=201)
def rerun(
    who: Admin, run_id: str, request: Request, body: ReplayBody | None = None
) -> dict[str, Any]:
    """Start a new run with this run's input (same version unless ``latest``). Formerly
    ``/replay``, which still works; shadow replay (``POST /api/workflows/{key}/shadow``)
    re-evaluates recorded runs without running anything."""
    body = body or ReplayBody()
    return _view(request, who, who.engine.get_run(who.engine.rerun(run_id, latest=body.latest)))


@router.post("/{run_id}/replay", status_code=201, deprecated=True)
def replay(
    who: Admin, run_id: str, request: Request, body: ReplayBody | None = None
) -> dict[str, Any]:
    """The former name of ``/rerun``."""
    return rerun(who, run_id, request, body)
