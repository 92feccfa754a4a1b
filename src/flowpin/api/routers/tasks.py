"""Human tasks: list, get, complete (422 when the data does not fit the form).

What a task shows of its run (the data a person entered, a title or description rendered from
the run) is masked like the run itself: key patterns and the workflow's redaction pointers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from flowpin.api.auth import Caller, Editor, Viewer
from flowpin.api.schemas import TaskComplete

router = APIRouter(prefix="/tasks", tags=["tasks"])


def _masked(request: Request, who: Caller, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    masks = who.engine.masks_for_runs([view["runId"] for view in views])
    redact = request.app.state.redact
    return [redact.task(view, masks.get(view["runId"])) for view in views]


@router.get("")
def list_tasks(
    who: Viewer,
    request: Request,
    status: str | None = Query(
        "open", description="open (default), completed, timed_out, canceled, or all."
    ),
    assignee: str | None = Query(
        None, description="Only tasks assigned to this name; 'me': the calling key's name."
    ),
    runId: str | None = Query(None, description="Only the tasks of this run."),
) -> dict[str, Any]:
    status = None if status in (None, "", "all") else status
    if assignee == "me":
        assignee = who.principal.name or who.principal.who
    tasks = who.engine.list_tasks(status=status, assignee=assignee, run_id=runId)
    return {"items": _masked(request, who, tasks)}


@router.get("/{task_id}")
def get_task(who: Viewer, task_id: str, request: Request) -> dict[str, Any]:
    return _masked(request, who, [who.engine.get_task(task_id)])[0]


@router.post("/{task_id}/complete")
def complete(who: Editor, task_id: str, body: TaskComplete, request: Request) -> dict[str, Any]:
    task = who.engine.complete_task(task_id, body.data, by=who.principal.who)
    return _masked(request, who, [task])[0]
