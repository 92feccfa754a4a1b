"""Human tasks: list, get, complete (422 when the data does not fit the form)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowpin.api.auth import Editor, Viewer
from flowpin.api.schemas import TaskComplete

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("")
def list_tasks(
    who: Viewer, status: str | None = "open", assignee: str | None = None
) -> dict[str, Any]:
    status = None if status in (None, "", "all") else status
    return {"items": who.engine.list_tasks(status=status, assignee=assignee)}


@router.get("/{task_id}")
def get_task(who: Viewer, task_id: str) -> dict[str, Any]:
    return who.engine.get_task(task_id)


@router.post("/{task_id}/complete")
def complete(who: Editor, task_id: str, body: TaskComplete) -> dict[str, Any]:
    return who.engine.complete_task(task_id, body.data)
