"""Request bodies (camelCase, like every JSON flowpin prints). Unknown fields are refused, and
so is any value the databases cannot store as given (``engine.inputs``: a lone surrogate, NUL,
an integer beyond 64 bits, NaN or Infinity, too deep a nesting) — anywhere in the body, before
a field is read."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowpin.engine import inputs
from flowpin.engine.triggers import TTL_MS_MAX

INT32_MAX = 2**31 - 1
"""The largest number the database's integer columns hold: anything above is a request error
(on SQLite a larger Python int cannot even be bound)."""

VersionQuery = Annotated[int | None, Query(ge=1, le=INT32_MAX)]
VersionPath = Annotated[int, Path(ge=1, le=INT32_MAX)]
WaitQuery = Annotated[
    str | None,
    Query(
        pattern=r"^([0-9]{1,5}(\.[0-9]{1,3})?)(ms|s)?$",
        description="Wait up to this long (5s, 500ms; at most 30s) until the run has nothing "
        "to do right now.",
    ),
]
PageLimit = Annotated[int, Query(ge=1, le=INT32_MAX, description="At most 500 are returned.")]


async def plain_url(request: Request) -> None:
    """Refuse a NUL in a path or query parameter (an app-wide dependency): PostgreSQL refuses
    one even in a lookup, so it would fail there instead of finding nothing. Async: a check
    this small costs less than the hop to a worker thread a plain ``def`` takes."""
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if isinstance(value, str):
            inputs.check_text(value, name)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        """Raises ``InputError`` (400 ``input.invalid_value``, with the field and the pointer
        to the bad part), which pydantic lets through: the same answer the Engine gives."""
        if isinstance(data, dict):
            inputs.check_fields(data)
        return data


WorkflowName = Annotated[str | None, Field(max_length=inputs.WORKFLOW_NAME_MAX)]


class WorkflowCreate(_Body):
    key: str = Field(description="[a-z0-9][a-z0-9._-]{0,63}")
    name: WorkflowName = None
    draft: dict[str, Any] | None = Field(
        None, description="The first draft (a definition, valid or not); default: no steps."
    )


class DraftUpdate(_Body):
    draft: dict[str, Any]
    expectedRevision: int | None = Field(
        None,
        ge=0,
        le=INT32_MAX,
        description="The revision this edit is based on (or send it as If-Match; one is "
        "required); 409 draft.conflict when someone saved since.",
    )


class DefinitionBody(_Body):
    definition: dict[str, Any] | None = Field(
        None, description="The definition to use instead of the stored draft."
    )


class LayoutBody(_Body):
    layout: dict[str, Any] = Field(description="Node positions by step id, e.g. {x, y}.")


class WorkflowPatch(_Body):
    name: WorkflowName = None
    paused: bool | None = None
    concurrencyLimit: int | None = Field(
        None,
        ge=1,
        le=INT32_MAX,
        description="At most this many runs of the workflow executing (held by a worker) at "
        "once; parked runs (waiting for an event, timer, task or child) do not count; the "
        "others wait in order. null removes the limit.",
    )


class DuplicateBody(_Body):
    key: str
    name: WorkflowName = None


class RunStart(_Body):
    workflow: str
    version: int | None = Field(None, ge=1, le=INT32_MAX)
    payload: Any = None
    subject: str | None = Field(None, max_length=inputs.SUBJECT_MAX)
    idempotencyKey: str | None = Field(None, max_length=inputs.IDEMPOTENCY_KEY_MAX)


BATCH_MAX = 1000
"""Items at most in one ``POST /api/runs/batch`` or ``POST /api/events/batch``."""


class RunStartBatch(_Body):
    items: list[RunStart] = Field(min_length=1, max_length=BATCH_MAX)


class RetryBody(_Body):
    fromStep: str | None = None
    payload: Any = None
    dryRun: bool = Field(
        False,
        description="Only show which action calls the retry would make again (nothing is "
        "changed); the answer is the preview instead of the run.",
    )


class BulkCancel(_Body):
    """The runs list's filters (as in ``GET /api/runs``); only active runs are canceled."""

    workflow: str | None = None
    version: int | None = Field(None, ge=1, le=INT32_MAX)
    status: str | None = None
    subject: str | None = None
    search: str | None = None
    step: str | None = None
    createdAfter: str | None = None
    createdBefore: str | None = None
    dryRun: bool = Field(False, description="Only count the runs that would be canceled.")
    expectedCount: int | None = Field(
        None,
        ge=0,
        le=INT32_MAX,
        description="The count the operator confirmed; refused (409) when more match now.",
    )


class ReplayBody(_Body):
    latest: bool = False


class LastRuns(_Body):
    last: int = Field(ge=1, le=1000, description="The workflow's latest N runs (any version).")


class ShadowBody(_Body):
    version: Annotated[int, Field(ge=1, le=INT32_MAX)] | Literal["draft"] = Field(
        description='The version to re-evaluate, or "draft" (the draft, which must be valid).'
    )
    runs: list[Annotated[str, Field(max_length=36)]] | LastRuns = Field(
        description='Run ids (at most 1,000), or {"last": N}.'
    )


class RunFilterBody(_Body):
    status: Literal["PENDING", "RUNNING", "WAITING"] | None = None
    step: str | None = Field(None, max_length=128, description="The run's current step id.")
    subject: str | None = Field(None, max_length=500)


class MigrationBody(_Body):
    fromVersion: int = Field(ge=1, le=INT32_MAX)
    toVersion: int = Field(ge=1, le=INT32_MAX)
    runs: Literal["all-active"] | list[Annotated[str, Field(max_length=36)]] | RunFilterBody = (
        Field(
            "all-active",
            description='Run ids, "all-active" (every active run of fromVersion) or a filter '
            "of its active runs.",
        )
    )
    mapping: dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=128)]] = (
        Field(
            default_factory=dict,
            description="{old step id: new step id}; a step not named maps to the same id.",
        )
    )
    resetTimers: bool = Field(
        False, description="Restart time.wait steps at their target (default: keep due times)."
    )
    dryRun: bool = Field(True, description="Only check and report (the default).")


class EventBody(_Body):
    name: str = Field(min_length=1, max_length=inputs.EVENT_NAME_MAX)
    key: str | None = Field(None, max_length=inputs.EVENT_KEY_MAX)
    payload: Any = None
    eventId: str | None = Field(None, max_length=inputs.EVENT_ID_MAX)
    ttlMs: int | None = Field(None, ge=0, le=TTL_MS_MAX)


class EventBatch(_Body):
    items: list[EventBody] = Field(min_length=1, max_length=BATCH_MAX)


class TaskComplete(_Body):
    data: Any = None


class ExpressionCheck(_Body):
    expression: str
    sampleEnvelope: Any = Field(
        None, description="When given, the expression is also evaluated against it."
    )


class SecretBody(_Body):
    value: str = Field(max_length=65536, description="Stored encrypted; never returned.")


class KeyBody(_Body):
    role: Literal["viewer", "editor", "admin"]
    name: str | None = Field(None, max_length=inputs.KEY_NAME_MAX)


def wait_seconds(text: str) -> float:
    """``5s``, ``500ms`` or ``5`` (seconds) as seconds, capped at 30."""
    value = float(text[:-2]) / 1000 if text.endswith("ms") else float(text.removesuffix("s"))
    return min(value, 30.0)
