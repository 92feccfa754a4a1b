"""``POST /api/workflows/{key}/try``: run a draft in a sandbox against a sample payload without
publishing it (see ``flowpin.engine.trial``): nothing is stored, no side effect leaves the
server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from flowpin.api.auth import Editor
from flowpin.api.schemas import _Body
from flowpin.engine.trial import try_definition
from flowpin.engine.workflows_admin import BadRequest

router = APIRouter(prefix="/workflows", tags=["workflows"])


class TrialBody(_Body):
    definition: dict[str, Any] | None = Field(
        None, description="The definition to try (default: the stored draft)."
    )
    payload: Any = Field(None, description="The sample payload the run starts with.")
    outputs: dict[str, Any] = Field(
        default_factory=dict,
        description='Sample outputs of actions with side effects, by "actionId@version".',
    )
    answers: dict[str, Any] = Field(
        default_factory=dict,
        description="Answers to waits by step id: an event's payload or a task's data.",
    )


@router.post("/{key}/try")
def try_draft(who: Editor, key: str, body: TrialBody) -> dict[str, Any]:
    document = (
        body.definition if body.definition is not None else who.engine.get_workflow(key)["draft"]
    )
    if not isinstance(document, dict):
        raise BadRequest(f"workflow {key!r} has no draft to try", code="request.invalid")
    document = {**document, "key": key}
    return try_definition(
        who.engine.registry, document, body.payload, outputs=body.outputs, answers=body.answers
    )
