"""Runs: start, list (filters, cursor), counts per status, bulk cancel, get, steps, cancel,
resume, retry, rerun."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from flowpin.api.answers import JsonAnswer
from flowpin.api.auth import EDITOR, VIEWER, Admin, Caller, Editor, Viewer
from flowpin.api.errors import error_body, status_for
from flowpin.api.lean import json_request, lean_route
from flowpin.api.schemas import (
    BulkCancel,
    PageLimit,
    ReplayBody,
    RetryBody,
    RunStart,
    RunStartBatch,
    VersionQuery,
    WaitQuery,
    plain_url,
    wait_seconds,
)
from flowpin.engine.run_listing import RunFilter
from flowpin.engine.start_commits import Started, StartIn, check_start
from flowpin.errors import FlowpinError

router = APIRouter(prefix="/runs", tags=["runs"])


async def start(who: Editor, body: RunStart, request: Request) -> Response:
    """Concurrent starts share one commit (``api.batches``); the answer is the run as
    written, once it is committed."""
    return await _start(request, who, body)


async def _plain_start(request: Request) -> Response | None:
    """``POST /api/runs`` with a plain JSON body, as ``start`` answers it, without FastAPI's
    dependency solving (``api.lean``)."""
    taken = await json_request(request, EDITOR, RunStart)
    return None if taken is None else await _start(request, *taken)


async def _start(request: Request, who: Caller, body: RunStart) -> Response:
    item = check_start(
        StartIn(body.workflow, body.payload, body.subject, body.version, body.idempotencyKey)
    )
    outcome = await request.app.state.starts.submit(who.engine, item)
    if isinstance(outcome, FlowpinError):
        raise outcome
    if outcome.view is None:  # the idempotency key named a run that already existed
        view, masks = await run_in_threadpool(who.engine.get_run_masked, outcome.run_id)
        return JsonAnswer(request.app.state.redact.run(view, masks), status_code=201)
    return JsonAnswer(_batch_item(request, who, outcome)["run"], status_code=201)


router.add_api_route(
    "", start, methods=["POST"], status_code=201, route_class_override=lean_route(_plain_start)
)


@router.post("/batch")
def start_batch(who: Editor, body: RunStartBatch, request: Request) -> dict[str, Any]:
    """Each item checked as ``POST /api/runs`` checks it; all written in one transaction."""
    outcomes = who.engine.start_many(
        [StartIn(i.workflow, i.payload, i.subject, i.version, i.idempotencyKey) for i in body.items]
    )
    return {"items": [_batch_item(request, who, outcome) for outcome in outcomes]}


def _batch_item(request: Request, who: Caller, outcome: Started | FlowpinError) -> dict[str, Any]:
    if isinstance(outcome, FlowpinError):
        return {
            "status": status_for(outcome),
            **error_body(outcome.code, outcome.message, outcome.details),
        }
    if outcome.view is None:
        return {"status": 201, "run": _view(request, who, who.engine.get_run(outcome.run_id))}
    masks = who.engine.masks_for_new(outcome.version_id, outcome.definition, outcome.state)
    return {"status": 201, "run": request.app.state.redact.run(outcome.view, masks)}


def _view(request: Request, who: Caller, view: dict[str, Any]) -> dict[str, Any]:
    """What a client sees of a run: key patterns and the workflow's redaction pointers
    masked (the stored run keeps its real values)."""
    masks = who.engine.masks_for_view(view)
    return request.app.state.redact.run(view, masks)  # type: ignore[no-any-return]


@router.get("")
def list_runs(
    who: Viewer,
    workflow: str | None = None,
    version: VersionQuery = None,
    status: str | None = Query(
        None, description="A status, several separated by commas, or 'active'."
    ),
    subject: str | None = Query(None, description="The exact subject."),
    search: str | None = Query(
        None, description="Part of the subject (any case), or a whole run id."
    ),
    step: str | None = Query(None, description="A step the run is at now."),
    createdAfter: str | None = Query(None, description="ISO time, inclusive."),
    createdBefore: str | None = Query(None, description="ISO time, exclusive."),
    parent: str | None = Query(None, description="Only the child runs of this run."),
    limit: PageLimit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    return who.engine.page_runs(
        parent=parent,
        workflow=workflow,
        version=version,
        status=status,
        subject=subject,
        search=search,
        step=step,
        created_after=createdAfter,
        created_before=createdBefore,
        limit=limit,
        cursor=cursor,
    )


@router.get("/counts")
def counts(
    who: Viewer,
    workflow: str | None = None,
    version: VersionQuery = None,
    subject: str | None = None,
    search: str | None = None,
    step: str | None = None,
    createdAfter: str | None = None,
    createdBefore: str | None = None,
) -> dict[str, Any]:
    """Runs per status for the same filters as the list (without ``status``)."""
    return who.engine.run_counts(
        workflow=workflow,
        version=version,
        subject=subject,
        search=search,
        step=step,
        created_after=createdAfter,
        created_before=createdBefore,
    )


@router.post("/cancel")
def cancel_matching(who: Admin, body: BulkCancel) -> dict[str, Any]:
    """Cancel the active runs that match the filters. With ``dryRun`` only count them: show
    the number, let the operator confirm it, then send it back as ``expectedCount``."""
    selection = RunFilter(
        workflow=body.workflow,
        version=body.version,
        status=body.status,
        subject=body.subject,
        search=body.search,
        step=body.step,
        created_after=body.createdAfter,
        created_before=body.createdBefore,
    )
    return who.engine.cancel_matching(
        selection, dry_run=body.dryRun, expected=body.expectedCount, by=who.principal.who
    )


async def get_run(who: Viewer, run_id: str, request: Request, wait: WaitQuery = None) -> Response:
    """One run. ``?wait=5s`` (or ``500ms``; at most 30 s) first waits until the run has
    nothing to do right now — finished, or parked with no due work — so a read right after an
    event shows what the worker made of it."""
    return await _run_answer(request, who, run_id, wait_seconds(wait) if wait else 0.0)


async def _plain_get_run(request: Request) -> Response | None:
    """``GET /api/runs/{run_id}`` with no query string, as ``get_run`` answers it, without
    FastAPI's dependency solving (``api.lean``): what dashboards and clients poll."""
    if request.scope["query_string"]:
        return None
    await plain_url(request)  # the app-wide dependency FastAPI would have solved
    who = await VIEWER(request)
    return await _run_answer(request, who, request.path_params["run_id"], 0.0)


async def _run_answer(request: Request, who: Caller, run_id: str, seconds: float) -> Response:
    engine = who.engine
    if seconds:
        view, masks = await run_in_threadpool(engine.get_run_masked, run_id, wait=seconds)
    elif engine.reads_inline:  # one indexed read on SQLite: cheaper here than a thread hop
        view, masks = engine.get_run_masked(run_id, kept=True)
    else:  # a round trip: on one of the engine's few reading threads and its kept connection
        read = functools.partial(engine.get_run_masked, run_id, kept=True)
        view, masks = await asyncio.get_running_loop().run_in_executor(engine.short_reads, read)
    return JsonAnswer(request.app.state.redact.run(view, masks))


router.add_api_route(
    "/{run_id}", get_run, methods=["GET"], route_class_override=lean_route(_plain_get_run)
)


@router.get("/{run_id}/steps")
def steps(who: Viewer, run_id: str, request: Request) -> dict[str, Any]:
    redact = request.app.state.redact
    masks = who.engine.masks_for_view(who.engine.get_run(run_id))
    return {"items": [redact.step(item, masks) for item in who.engine.history(run_id)]}


@router.post("/{run_id}/cancel")
def cancel(who: Admin, run_id: str, request: Request) -> dict[str, Any]:
    return _view(request, who, who.engine.cancel(run_id, by=who.principal.who))


@router.post("/{run_id}/resume")
def resume(who: Admin, run_id: str, request: Request) -> dict[str, Any]:
    return _view(request, who, who.engine.resume(run_id, by=who.principal.who))


@router.post("/{run_id}/retry")
def retry(
    who: Admin, run_id: str, request: Request, body: RetryBody | None = None
) -> dict[str, Any]:
    body = body or RetryBody()
    if body.dryRun:
        return who.engine.retry_preview(run_id, from_step=body.fromStep)
    return _view(
        request,
        who,
        who.engine.retry(
            run_id, from_step=body.fromStep, payload=body.payload, by=who.principal.who
        ),
    )


@router.post("/{run_id}/rerun", status_code=201)
def rerun(
    who: Admin, run_id: str, request: Request, body: ReplayBody | None = None
) -> dict[str, Any]:
    """Start a new run with this run's input (same version unless ``latest``). Formerly
    ``/replay``, which still works; shadow replay (``POST /api/workflows/{key}/shadow``)
    re-evaluates recorded runs without running anything."""
    body = body or ReplayBody()
    new_run = who.engine.rerun(run_id, latest=body.latest, by=who.principal.who)
    return _view(request, who, who.engine.get_run(new_run))


@router.post("/{run_id}/replay", status_code=201, deprecated=True)
def replay(
    who: Admin, run_id: str, request: Request, body: ReplayBody | None = None
) -> dict[str, Any]:
    """The former name of ``/rerun``."""
    return rerun(who, run_id, request, body)
