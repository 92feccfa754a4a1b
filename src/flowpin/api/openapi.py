"""The OpenAPI document clients generate from (``/openapi.json``).

FastAPI derives paths and request bodies from the routes; this module adds what it cannot know:
each operation's typed success answer (``RESPONSES``, models in ``api/models.py``), the error
answers flowpin really gives — in its one shape, ``{"error": {code, message, details}}``, with
400 for malformed requests instead of FastAPI's 422 ``{"detail": …}`` (flowpin's own 422 is for
well-formed content its schema refuses) — and the ``bearer`` scheme
(declared by the auth dependency). Handlers keep returning plain dicts: documenting a model costs
a request nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from flowpin.api import models as m

REF = "#/components/schemas/{model}"

# (method, path) → the model of its success answer; ``None``: no body (204).
RESPONSES: dict[tuple[str, str], type[BaseModel] | tuple[type[BaseModel], ...] | None] = {
    ("get", "/api/health"): m.Health,
    ("get", "/api/me"): m.Me,
    ("get", "/api/workflows"): m.WorkflowPage,
    ("post", "/api/workflows"): m.Workflow,
    ("get", "/api/workflows/{key}"): m.Workflow,
    ("patch", "/api/workflows/{key}"): m.Workflow,
    ("delete", "/api/workflows/{key}"): None,
    ("get", "/api/workflows/{key}/draft"): m.Draft,
    ("put", "/api/workflows/{key}/draft"): m.DraftSaved,
    ("post", "/api/workflows/{key}/validate"): m.Validation,
    ("post", "/api/workflows/{key}/publish"): m.Published,
    ("get", "/api/workflows/{key}/versions"): m.VersionList,
    ("get", "/api/workflows/{key}/versions/{number}"): m.Version,
    ("get", "/api/workflows/{key}/counts"): m.WorkflowCounts,
    ("get", "/api/workflows/{key}/diff"): m.Diff,
    ("get", "/api/workflows/{key}/layout"): m.Layout,
    ("put", "/api/workflows/{key}/layout"): m.Layout,
    ("post", "/api/workflows/{key}/duplicate"): m.Workflow,
    ("post", "/api/workflows/{key}/runs/cancel-all"): m.CanceledRuns,
    ("post", "/api/workflows/{key}/migrations"): m.Migration,
    ("post", "/api/workflows/{key}/shadow"): m.Shadow,
    ("post", "/api/workflows/{key}/try"): m.Trial,
    ("post", "/api/runs"): m.Run,
    ("post", "/api/runs/batch"): m.RunBatchResult,
    ("get", "/api/runs"): m.RunPage,
    ("get", "/api/runs/counts"): m.RunCounts,
    ("post", "/api/runs/cancel"): m.BulkCancelResult,
    ("get", "/api/runs/{run_id}"): m.Run,
    ("get", "/api/runs/{run_id}/steps"): m.StepList,
    ("post", "/api/runs/{run_id}/cancel"): m.Run,
    ("post", "/api/runs/{run_id}/resume"): m.Run,
    ("post", "/api/runs/{run_id}/retry"): (m.Run, m.RetryPreview),
    ("post", "/api/runs/{run_id}/rerun"): m.Run,
    ("post", "/api/runs/{run_id}/replay"): m.Run,
    ("post", "/api/events"): m.EventAccepted,
    ("post", "/api/events/batch"): m.EventBatchResult,
    ("get", "/api/events"): m.EventPage,
    ("get", "/api/events/{event_id}"): m.EventDetail,
    ("get", "/api/tasks"): m.TaskList,
    ("get", "/api/tasks/{task_id}"): m.Task,
    ("post", "/api/tasks/{task_id}/complete"): m.Task,
    ("get", "/api/registry/nodes"): m.NodeTypeList,
    ("get", "/api/registry/actions"): m.ActionList,
    ("get", "/api/registry/schemas/{ref}"): m.Model,
    ("post", "/api/expressions/validate"): m.ExpressionCheckResult,
    ("get", "/api/keys"): m.KeyList,
    ("post", "/api/keys"): m.NewKey,
    ("delete", "/api/keys/{key_id}"): None,
    ("get", "/api/secrets"): m.SecretList,
    ("get", "/api/secrets/{name}"): m.SecretInfo,
    ("put", "/api/secrets/{name}"): m.SecretInfo,
    ("delete", "/api/secrets/{name}"): None,
}

# Operations that answer 201 when they create and 200 when it already existed.
CREATED_OR_OK = {
    ("post", "/api/workflows/{key}/publish"): "A new version was published.",
    ("put", "/api/secrets/{name}"): "The secret is new.",
}

# Descriptions of operations whose handler has no docstring (a docstring wins).
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("get", "/api/me"): "The calling key: its tenant, role and what the role allows.",
    ("get", "/api/workflows"): "Workflows of the tenant, by key; `search` filters by key or name.",
    ("post", "/api/workflows"): "Create a workflow with its first draft (409 when the key exists).",
    ("get", "/api/workflows/{key}"): "One workflow: draft, layout, settings, runs in flight.",
    ("delete", "/api/workflows/{key}"): "Delete a workflow that has no active runs.",
    ("post", "/api/workflows/{key}/validate"): "Validate the draft, or a definition sent in the "
    "body, without saving or publishing it.",
    ("get", "/api/workflows/{key}/versions"): "The published versions, newest last.",
    ("get", "/api/workflows/{key}/versions/{number}"): "One published version's definition.",
    ("get", "/api/workflows/{key}/layout"): "Node positions by step id (not versioned).",
    ("put", "/api/workflows/{key}/layout"): "Replace the node positions.",
    ("post", "/api/workflows/{key}/duplicate"): "Copy the workflow's draft under a new key.",
    ("post", "/api/workflows/{key}/runs/cancel-all"): "Cancel every active run of the workflow.",
    ("post", "/api/workflows/{key}/try"): "Run the draft against a sample payload in a sandbox: "
    "actions without effects run, the others answer from the body; nothing is stored.",
    ("post", "/api/runs"): "Start a run of a published version (the latest unless `version`).",
    ("post", "/api/runs/batch"): "Start up to 1,000 runs in one transaction; each item gets "
    "the answer POST /api/runs would give it (a refused item does not stop the others).",
    ("post", "/api/events/batch"): "Submit up to 1,000 events in one transaction; each item "
    "gets the answer POST /api/events would give it.",
    ("get", "/api/runs"): "Runs, newest first, with filters and a `nextCursor` to page on.",
    ("get", "/api/runs/{run_id}/steps"): "The run's step history: inputs, outputs and errors "
    "(redacted), attempts, times and the version each step ran under.",
    ("post", "/api/runs/{run_id}/cancel"): "Cancel the run and its active children.",
    ("post", "/api/runs/{run_id}/resume"): "Fire the run's pending timer now.",
    ("post", "/api/runs/{run_id}/retry"): "Retry a finished run from its failed step or "
    "`fromStep`; with `dryRun`, list the action calls that would run again instead.",
    ("post", "/api/events"): "Submit an event: resumes the runs waiting for it and starts runs "
    "whose trigger matches, in one transaction.",
    ("get", "/api/events"): "Received events, newest first, with what each one did.",
    ("get", "/api/tasks"): "Human tasks (open by default).",
    ("get", "/api/tasks/{task_id}"): "One human task with its form (JSON Schema).",
    ("post", "/api/tasks/{task_id}/complete"): "Complete a task with data valid against its form.",
    ("get", "/api/registry/nodes"): "Node types with their config JSON Schemas.",
    ("get", "/api/registry/actions"): "Registered actions with input and output JSON Schemas.",
    ("get", "/api/registry/schemas/{ref}"): "A JSON Schema by reference.",
    ("get", "/api/secrets"): "Names of the tenant's stored secrets (never their values).",
    ("get", "/api/secrets/{name}"): "A stored secret's name and dates (never its value).",
    ("put", "/api/secrets/{name}"): "Store or replace a secret (encrypted; 201 when new).",
    ("delete", "/api/secrets/{name}"): "Delete a stored secret.",
    ("get", "/api/keys"): "The tenant's API keys (never the keys themselves).",
    ("post", "/api/keys"): "Create an API key; the key is in this answer only.",
    ("delete", "/api/keys/{key_id}"): "Revoke an API key at once.",
}

ERRORS = {
    "400": "The request is invalid (`request.invalid` and the other 400 codes of docs/errors.md).",
    "401": "No API key, or one that is unknown or revoked (`auth.missing`, `auth.invalid`).",
    "403": "The key's role does not allow this (`auth.forbidden`).",
    "404": "What the path names does not exist for this tenant.",
    "409": "The request conflicts with the current state (e.g. `draft.conflict`).",
    "413": "The request body or a value in it is too large.",
    "422": "Well-formed but refused: a definition with errors, a payload or a task answer its "
    "JSON Schema rejects (`definition.invalid`, `run.invalid_payload`, `task.invalid_data`).",
    "428": "The draft's revision is required (`If-Match` or `expectedRevision`).",
    "429": "More events per second than this tenant may send (`limit.rate`).",
}

RFC822_BODY = {
    "required": True,
    "description": "The raw message (RFC 5322), as an inbound-mail webhook posts it.",
    "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
}


def _schemas() -> dict[str, Any]:
    models = {model for value in RESPONSES.values() for model in _models(value)}
    models.add(m.ErrorBody)
    _, top = models_json_schema(
        [(model, "serialization") for model in sorted(models, key=lambda x: x.__name__)],
        ref_template=REF,
    )
    return dict(top.get("$defs", {}))


def _models(value: Any) -> tuple[type[BaseModel], ...]:
    if value is None:
        return ()
    return value if isinstance(value, tuple) else (value,)


def _success(value: Any) -> dict[str, Any]:
    refs = [{"$ref": REF.format(model=model.__name__)} for model in _models(value)]
    schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
    return {"application/json": {"schema": schema}}


def _error_codes(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    codes = ["400"]
    if operation.get("security"):
        codes += ["401", "403"]
    if "{" in path:
        codes.append("404")
    if method in ("post", "put", "patch", "delete"):
        codes.append("409")
    if method in ("post", "put", "patch"):
        codes.append("422")
    if (method, path) == ("put", "/api/workflows/{key}/draft"):
        codes.append("428")
    if "requestBody" in operation:
        codes.append("413")
    if (method, path) in (("post", "/api/events"), ("post", "/api/events/batch")):
        codes.append("429")
    return codes


def document(app: FastAPI) -> dict[str, Any]:
    """The finished OpenAPI document of ``app``."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components.update(_schemas())
    error = {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's {"detail": …}: flowpin answers 400 instead
            if not operation.get("description") and (method, path) in DESCRIPTIONS:
                operation["description"] = DESCRIPTIONS[(method, path)]
            if (method, path) in CREATED_OR_OK:
                responses["201"] = {"description": CREATED_OR_OK[(method, path)]}
            if (method, path) in RESPONSES:
                value = RESPONSES[(method, path)]
                for status, answer in responses.items():
                    if status.startswith("2") and value is not None:
                        answer["content"] = _success(value)
            for code in _error_codes(path, method, operation):
                responses.setdefault(code, {"description": ERRORS[code], "content": error})
            if path.endswith("/helpdesk/inbound") and method == "post":
                operation["requestBody"] = RFC822_BODY
                responses.setdefault("413", {"description": ERRORS["413"], "content": error})
    return schema


def operation_id(route: APIRoute) -> str:
    """``runs_start``, ``workflows_publish``: a generated client's function names."""
    tag = str(route.tags[0]) if route.tags else "api"
    prefix = "".join(ch if ch.isalnum() else "_" for ch in tag.split(":")[-1].strip())
    return f"{prefix}_{route.name}"


def install(app: FastAPI) -> None:
    """Serve :func:`document` at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
