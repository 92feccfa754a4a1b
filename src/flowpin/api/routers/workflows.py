"""Workflows: list, create, get, draft, validate, publish, versions, layout, settings,
duplicate, delete, cancel-all."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from flowpin.api.auth import Admin, Editor, Viewer
from flowpin.api.drafts import IfMatch, PreconditionRequired, based_on, etag
from flowpin.api.schemas import (
    DefinitionBody,
    DraftUpdate,
    DuplicateBody,
    LayoutBody,
    MigrationBody,
    PageLimit,
    ShadowBody,
    VersionPath,
    WorkflowCreate,
    WorkflowPatch,
)
from flowpin.api.streaming import NDJSON, stream_migration
from flowpin.definitions.validate import validate
from flowpin.engine.migrating import RunFilter
from flowpin.engine.workflows_admin import BadRequest

router = APIRouter(prefix="/workflows", tags=["workflows"])


def _document(who: Any, key: str, body: DefinitionBody | None) -> dict[str, Any]:
    if body is not None and body.definition is not None:
        document = dict(body.definition)
    else:
        document = who.engine.get_workflow(key)["draft"]
        if document is None:
            raise BadRequest(f"workflow {key!r} has no draft", code="request.invalid")
        document = dict(document)
    if document.setdefault("key", key) != key:
        raise BadRequest(
            f"the definition's key {document['key']!r} is not {key!r}", code="request.invalid"
        )
    return document


@router.get("")
def list_workflows(
    who: Viewer, search: str | None = None, limit: PageLimit = 100, cursor: str | None = None
) -> dict[str, Any]:
    return who.engine.list_workflows(search=search, limit=limit, cursor=cursor)


@router.post("", status_code=201)
def create_workflow(who: Editor, body: WorkflowCreate) -> dict[str, Any]:
    return who.engine.create_workflow(body.key, name=body.name, draft=body.draft)


@router.get("/{key}")
def get_workflow(who: Viewer, key: str) -> dict[str, Any]:
    return who.engine.get_workflow(key)


@router.get("/{key}/draft")
def get_draft(who: Viewer, key: str, response: Response) -> dict[str, Any]:
    """The draft, its revision and its validation problems; the ``ETag`` header is the
    revision, to send back as ``If-Match`` when saving."""
    draft = who.engine.get_draft(key)
    response.headers["ETag"] = etag(draft["revision"])
    return draft


@router.put("/{key}/draft")
def save_draft(
    who: Editor, key: str, body: DraftUpdate, response: Response, if_match: IfMatch = None
) -> dict[str, Any]:
    """Save the draft as a compare-and-set on the revision it was based on (``If-Match`` or
    ``expectedRevision``; one is required): a stale save gets 409 ``draft.conflict`` with the
    current draft, never overwrites it. Problems come back on every save."""
    who.engine.get_workflow(key)  # 404 rather than creating a workflow by accident
    expected = based_on(if_match, body.expectedRevision)
    if expected is None:
        raise PreconditionRequired(
            "saving a draft needs the revision it was based on: send If-Match (the ETag of "
            "GET /draft) or expectedRevision",
            code="draft.precondition_required",
        )
    document = _document(who, key, DefinitionBody(definition=body.draft))
    revision = who.engine.save_draft(document, expected_revision=expected)
    response.headers["ETag"] = etag(revision)
    problems = [p.to_dict() for p in validate(document, who.engine.registry)]
    valid = not any(p["severity"] == "error" for p in problems)
    return {"revision": revision, "valid": valid, "problems": problems}


@router.post("/{key}/validate")
def validate_workflow(who: Viewer, key: str, body: DefinitionBody | None = None) -> dict[str, Any]:
    document = _document(who, key, body)
    problems = [p.to_dict() for p in validate(document, who.engine.registry)]
    return {"valid": not any(p["severity"] == "error" for p in problems), "problems": problems}


@router.post("/{key}/publish")
def publish(
    who: Admin,
    key: str,
    response: Response,
    body: DefinitionBody | None = None,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Publish ``definition`` or, without one, the stored draft; ``If-Match`` (a draft ETag)
    publishes the draft only if it is still that revision (409 ``draft.conflict`` otherwise)."""
    if body is not None and body.definition is not None:
        published = who.engine.publish(_document(who, key, body))
    else:
        expected = based_on(if_match, None)
        published = who.engine.publish_draft(key, expected_revision=expected)
    response.status_code = 201 if published.created else 200
    return {
        "workflow": published.workflow,
        "version": published.version,
        "hash": published.hash,
        "created": published.created,
        "problems": published.problems,
    }


@router.get("/{key}/versions")
def versions(who: Viewer, key: str) -> dict[str, Any]:
    return {"items": who.engine.versions(key)}


@router.get("/{key}/versions/{number}")
def version(who: Viewer, key: str, number: VersionPath) -> dict[str, Any]:
    return who.engine.get_version(key, number)


@router.get("/{key}/counts")
def step_counts(who: Viewer, key: str) -> dict[str, Any]:
    """Runs per version and per step: ``running``, ``waiting`` (and ``waitingByKind``: event,
    timer, task, child, retry), ``failed``; totals, and ``activeOnOlderVersions`` (the designer's
    badges and its "runs in flight on older versions" banner)."""
    return who.engine.step_counts(key)


@router.get("/{key}/diff")
def diff(
    who: Viewer,
    key: str,
    from_: Annotated[
        str | None, Query(alias="from", max_length=12, description="A version; default latest.")
    ] = None,
    to: Annotated[
        str | None, Query(max_length=12, description="A version or 'draft' (the default).")
    ] = None,
) -> dict[str, Any]:
    """Steps added, removed, changed (per field), moved and of a changed type between two
    versions (or a version and the draft), each with the active runs of ``from`` at, before and
    after it and a classification: ``safe``, ``affects-in-flight`` or ``needs-mapping``."""
    return who.engine.diff(key, from_, to)


@router.get("/{key}/layout")
def get_layout(who: Viewer, key: str) -> dict[str, Any]:
    return {"layout": who.engine.get_workflow(key)["layout"]}


@router.put("/{key}/layout")
def put_layout(who: Editor, key: str, body: LayoutBody) -> dict[str, Any]:
    return {"layout": who.engine.set_layout(key, body.layout)}


@router.patch("/{key}")
def update_settings(who: Editor, key: str, body: WorkflowPatch) -> dict[str, Any]:
    """Name, ``paused`` and ``concurrencyLimit``; workers pick up held or queued runs at once.
    Redaction pointers are not a setting here: they live in the definition
    (``settings.redact``), so each published version says what its runs mask."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return who.engine.update_workflow(key, **changes)


@router.post("/{key}/duplicate", status_code=201)
def duplicate(who: Editor, key: str, body: DuplicateBody) -> dict[str, Any]:
    return who.engine.duplicate_workflow(key, body.key, name=body.name)


@router.delete("/{key}", status_code=204)
def delete(who: Admin, key: str) -> Response:
    who.engine.delete_workflow(key)
    return Response(status_code=204)


@router.post("/{key}/runs/cancel-all")
def cancel_all(who: Admin, key: str) -> dict[str, Any]:
    return {"canceled": who.engine.cancel_all(key)}


@router.post("/{key}/migrations", response_model=None)
def migrate(
    who: Admin, key: str, body: MigrationBody, request: Request
) -> dict[str, Any] | StreamingResponse:
    """Check (``dryRun``, the default) or move runs in flight to another version (SPEC §5).
    The answer is the per-run report; with ``Accept: application/x-ndjson`` it streams one
    ``{"progress": {"done", "total"}}`` line per batch, then ``{"report": …}``."""
    runs = body.runs
    selection = RunFilter(**runs.model_dump()) if not isinstance(runs, str | list) else runs
    migration = who.engine.prepare_migration(
        key,
        from_version=body.fromVersion,
        to_version=body.toVersion,
        runs=selection,
        mapping=body.mapping,
        reset_timers=body.resetTimers,
        dry_run=body.dryRun,
    )
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(stream_migration(who.engine, migration), media_type=NDJSON)
    return who.engine.run_migration(migration)


@router.post("/{key}/shadow")
def shadow(who: Editor, key: str, body: ShadowBody) -> dict[str, Any]:
    """Shadow replay: re-evaluate ``version`` against recorded runs with their recorded
    action outputs, events and task answers as stubs; calls nothing, writes nothing. Per run
    the first divergent step (expected: this version, actual: what happened) or where the
    shadow had to stop. Not the same as ``POST /api/runs/{id}/rerun`` (a new run)."""
    if isinstance(body.runs, list):
        return who.engine.shadow(key, version=body.version, runs=body.runs)
    return who.engine.shadow(key, version=body.version, last=body.runs.last)
