"""What the API answers, as pydantic models: the OpenAPI document's response schemas, so a
client generated from ``/openapi.json`` gets typed results.

The handlers return plain dicts (built from what was written or read, nothing validated twice on
the hot path); these models document them, and ``tests/api/test_openapi.py`` checks real answers
against them. Each model allows extra fields, so adding a field is not a breaking change.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JSONValue = Any
RunStatusName = Literal["PENDING", "RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELED"]


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------- errors


class ErrorDetail(Model):
    code: str = Field(description="A stable, dotted code; docs/errors.md lists them all.")
    message: str = Field(description="What went wrong, in words.")
    details: JSONValue = Field(None, description="Structured context (fields, limits, …).")


class ErrorBody(Model):
    """Every error answer of the API."""

    error: ErrorDetail


# ---------------------------------------------------------------- workflows


class Problem(Model):
    severity: Literal["error", "warning"]
    code: str
    message: str
    path: str | None = None
    stepId: str | None = None


class ActiveRuns(Model):
    total: int
    byVersion: dict[str, int]


class Workflow(Model):
    key: str
    name: str | None = None
    draft: dict[str, JSONValue] | None = None
    draftRevision: int | None = None
    layout: dict[str, JSONValue] = Field(default_factory=dict)
    paused: bool = False
    concurrencyLimit: int | None = None
    latestVersion: int | None = None
    latestHash: str | None = None
    activeRuns: ActiveRuns | None = None
    runsOnOlderVersions: int = 0
    createdAt: str | None = None
    updatedAt: str | None = None


class WorkflowSummary(Model):
    key: str
    name: str | None = None
    paused: bool = False
    concurrencyLimit: int | None = None
    draftRevision: int | None = None
    latestVersion: int | None = None
    activeRuns: int = 0
    updatedAt: str | None = None


class WorkflowPage(Model):
    items: list[WorkflowSummary]
    nextCursor: str | None = None


class Draft(Model):
    key: str
    revision: int
    draft: dict[str, JSONValue] | None = None
    valid: bool | None = None
    problems: list[Problem] = Field(default_factory=list)


class DraftSaved(Model):
    revision: int
    valid: bool
    problems: list[Problem]


class Validation(Model):
    valid: bool
    problems: list[Problem]


class Published(Model):
    workflow: str
    version: int
    hash: str = Field(description="sha256 of the canonical JSON of the definition.")
    created: bool = Field(description="False when identical content was already published.")
    problems: list[Problem] = Field(description="Warnings (errors prevent publishing).")


class VersionSummary(Model):
    version: int
    hash: str
    publishedAt: str | None = None


class VersionList(Model):
    items: list[VersionSummary]


class Version(VersionSummary):
    definition: dict[str, JSONValue]


class WaitingByKind(Model):
    event: int = 0
    timer: int = 0
    task: int = 0
    child: int = 0
    retry: int = 0


class StepCounts(Model):
    running: int = 0
    waiting: int = 0
    waitingByKind: WaitingByKind | None = None
    failed: int = 0


class VersionCounts(StepCounts):
    active: int = 0
    steps: dict[str, StepCounts] = Field(default_factory=dict)


class TotalCounts(StepCounts):
    active: int = 0


class WorkflowCounts(Model):
    workflow: str
    latestVersion: int | None = None
    total: TotalCounts
    activeOnOlderVersions: int = Field(
        description="Active runs on versions older than the latest (the designer's banner)."
    )
    byVersion: dict[str, VersionCounts]


class DiffRuns(Model):
    at: int = 0
    before: int = 0
    after: int = 0


class DiffChange(Model):
    stepId: str
    change: Literal["added", "removed", "changed", "moved", "typeChanged"]
    classification: Literal["safe", "affects-in-flight", "needs-mapping"]
    runs: DiffRuns | None = None
    fields: list[dict[str, JSONValue]] | None = None


class Diff(Model):
    workflow: str
    from_: int | str = Field(alias="from")
    to: int | str
    activeRuns: int
    summary: dict[str, int]
    changes: list[DiffChange]
    workflowChanges: list[dict[str, JSONValue]] = Field(default_factory=list)


class Layout(Model):
    layout: dict[str, JSONValue]


class ShadowRun(Model):
    runId: str
    result: str = Field(description="same, diverges, in-progress or incomplete")
    divergence: dict[str, JSONValue] | None = None
    stopped: dict[str, JSONValue] | None = None


class Shadow(Model):
    workflow: str
    version: int | str
    summary: dict[str, int]
    runs: list[ShadowRun]


class MigrationRun(Model):
    runId: str
    result: str = Field(description="ok, moved, blocked or retry-later")
    positions: list[dict[str, JSONValue]] = Field(default_factory=list)
    problems: list[dict[str, JSONValue]] = Field(default_factory=list)


class Migration(Model):
    workflow: str
    fromVersion: int
    toVersion: int
    dryRun: bool
    summary: dict[str, int]
    runs: list[MigrationRun]


class TrialStep(Model):
    stepId: str
    type: str | None = None
    status: str
    input: JSONValue = None
    output: JSONValue = None
    error: JSONValue = None


class Trial(Model):
    status: str
    steps: list[TrialStep]
    waitingAt: dict[str, JSONValue] | None = None
    needsOutput: JSONValue = None
    output: JSONValue = None
    error: JSONValue = None


class CanceledRuns(Model):
    canceled: list[str]


# ---------------------------------------------------------------- runs


class RunState(Model):
    payload: JSONValue = None
    vars: dict[str, JSONValue] = Field(default_factory=dict)
    meta: dict[str, JSONValue] = Field(default_factory=dict)


class Waiting(Model):
    kind: str = Field(description="event, timer, task, child or retry")
    stepId: str
    token: str | None = None
    eventName: str | None = None
    correlationKey: str | None = None
    dueAt: str | None = None


class Run(Model):
    runId: str
    workflow: str
    version: int
    status: RunStatusName
    subject: str | None = None
    output: JSONValue = None
    state: RunState
    error: dict[str, JSONValue] | None = None
    waitingFor: list[Waiting] = Field(default_factory=list)
    currentStep: str | None = None
    parentRunId: str | None = None
    concurrencyKey: str | None = Field(
        None,
        description="The run's key under its workflow's settings.concurrencyKey: runs with the "
        "same key run one at a time, in start order (a PENDING run waits for the one before).",
    )
    createdAt: str
    finishedAt: str | None = None


class RunBatchItem(Model):
    status: int = Field(description="What POST /api/runs would have answered: 201 or a 4xx.")
    run: Run | None = None
    error: ErrorDetail | None = None


class RunBatchResult(Model):
    items: list[RunBatchItem] = Field(description="One per submitted start, in order.")


class RunSummary(Model):
    runId: str
    workflow: str
    version: int
    status: RunStatusName
    subject: str | None = None
    currentStep: str | None = None
    parentRunId: str | None = None
    createdAt: str
    updatedAt: str | None = None
    finishedAt: str | None = None


class RunPage(Model):
    items: list[RunSummary]
    nextCursor: str | None = None


class RunCounts(Model):
    counts: dict[str, int]
    total: int


class BulkCancelResult(Model):
    matching: int
    canceled: int
    runIds: list[str]
    remaining: int = 0
    dryRun: bool


class Step(Model):
    stepId: str
    token: str | None = None
    type: str | None = None
    version: int | None = None
    attempt: int | None = None
    status: str
    at: str | None = None
    startedAt: str | None = None
    durationMs: float | None = None
    recordedAt: str | None = None
    input: JSONValue = None
    output: JSONValue = None
    error: JSONValue = None
    detail: JSONValue = None


class StepList(Model):
    items: list[Step]


class RetryCall(Model):
    stepId: str
    actionId: str | None = None
    effect: str | None = None
    reason: str | None = None
    answeredByLedger: bool | None = None


class RetryPreview(Model):
    runId: str
    fromStep: str | None = None
    actions: list[RetryCall]


# ---------------------------------------------------------------- events and tasks


class EventAccepted(Model):
    eventId: str
    resumed: list[str] = Field(description="Runs the event resumed.")
    started: list[str] = Field(description="Runs a trigger started.")
    duplicate: bool = Field(description="True when this eventId was submitted before.")


class EventBatchItem(Model):
    status: int = Field(description="What POST /api/events would have answered: 202 or a 4xx.")
    event: EventAccepted | None = None
    error: ErrorDetail | None = None


class EventBatchResult(Model):
    items: list[EventBatchItem] = Field(description="One per submitted event, in order.")


class Event(Model):
    id: str
    eventId: str | None = None
    name: str
    key: str | None = None
    payload: JSONValue = None
    receivedAt: str
    expiresAt: str | None = None
    ttlLeftMs: int | None = None
    matched: bool | None = None
    unmatched: bool | None = None
    resumedRuns: list[str] = Field(default_factory=list)
    startedRuns: list[str] = Field(default_factory=list)


class EventPage(Model):
    items: list[Event]
    nextCursor: str | None = None


class TouchedRun(Model):
    runId: str
    workflow: str | None = None
    version: int | None = None
    status: str | None = None
    subject: str | None = None
    relation: str


class EventDetail(Event):
    runs: list[TouchedRun] = Field(default_factory=list)


class Task(Model):
    taskId: str
    runId: str
    workflow: str | None = None
    subject: str | None = None
    stepId: str
    title: str
    description: str | None = None
    assignee: str | None = None
    formSchema: dict[str, JSONValue] | None = None
    status: str
    data: JSONValue = None
    dueAt: str | None = None
    createdAt: str | None = None
    completedAt: str | None = None
    completedBy: str | None = None


class TaskList(Model):
    items: list[Task]
    nextCursor: str | None = None


# ---------------------------------------------------------------- registry, keys, secrets


class NodeType(Model):
    type: str
    category: str | None = None
    description: str | None = None
    builtin: bool | None = None
    configSchema: dict[str, JSONValue]


class NodeTypeList(Model):
    items: list[NodeType]


class ActionInfo(Model):
    actionId: str
    version: int
    effect: str
    transactional: bool | None = None
    description: str | None = None
    inputSchema: dict[str, JSONValue] | None = None
    outputSchema: dict[str, JSONValue] | None = None


class ActionList(Model):
    items: list[ActionInfo]


class ExpressionCheckResult(Model):
    valid: bool
    errors: list[dict[str, JSONValue]] = Field(default_factory=list)


class Me(Model):
    tenant: str
    role: str
    keyId: str | None = None
    can: dict[str, bool]


class KeyInfo(Model):
    keyId: str
    tenant: str
    role: str
    name: str | None = None
    createdAt: str | None = None
    revokedAt: str | None = None


class KeyList(Model):
    items: list[KeyInfo]


class NewKey(Model):
    keyId: str
    tenant: str
    role: str
    key: str = Field(description="The key itself: shown once, never stored.")


class SecretInfo(Model):
    name: str


class SecretList(Model):
    items: list[SecretInfo]


class Health(Model):
    status: Literal["ok"]
    pid: int = Field(
        description="The id of the process that answered (flowpin serve --workers N: which one)."
    )
