"""The definition format of SPEC §2 as strict, frozen pydantic models.

A definition is a tree: control steps (``control.*``) carry their fields at the top level and
nest pipelines of steps; every other step is a *node step* whose type-specific fields live in
``config`` and are checked against the node type's registered config model at validation time
(so applications can add node types without changing this module). Values are kept as raw JSON:
a literal, ``{"$expr": "…"}`` or ``{"$secret": "NAME"}``, nested at any depth inside literals;
``flowpin.expressions.values`` interprets them.

Every model forbids unknown keys, so a typo is reported with the path of the key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from flowpin.definitions.pointers import parse_pointer

StepId = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
]
WorkflowKey = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
Value = Any
"""A literal JSON value, possibly with ``$expr`` / ``$secret`` objects nested inside."""

ErrorCategory = Literal[
    "ValidationError", "ExpressionError", "ActionError", "TransientError", "TimeoutError"
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- retry and errors


class RetryPolicy(_Model):
    """SPEC §4.3. ``maxAttempts`` counts the first attempt."""

    max_attempts: int = Field(3, alias="maxAttempts", ge=1, le=100)
    backoff_ms: int = Field(1000, alias="backoffMs", ge=0)
    backoff_multiplier: float = Field(2.0, alias="backoffMultiplier", ge=1.0, le=100.0)
    max_delay_ms: int | None = Field(None, alias="maxDelayMs", ge=0)
    jitter: Literal["full", "none"] = "full"
    retry_on: list[ErrorCategory] | None = Field(None, alias="retryOn")
    total_budget_ms: int | None = Field(None, alias="totalBudgetMs", ge=0)


# --------------------------------------------------------------------------- node steps


class NodeStep(_Model):
    """Any step whose type does not start with ``control.``; ``config`` is checked against the
    node type's config model by validation."""

    id: StepId
    type: str = Field(pattern=r"^[a-z][A-Za-z0-9_]*(\.[a-z][A-Za-z0-9_]*)+$")
    name: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    on_error: Literal["fail", "continue"] = Field("fail", alias="onError")
    timeout_ms: int | None = Field(None, alias="timeoutMs", ge=1)


# Configs of the built-in node types. Registered in flowpin.registry.node_types.


class StateSetConfig(_Model):
    state: str = Field(min_length=1, max_length=200)


class AssignConfig(_Model):
    assign: dict[str, Value] = Field(min_length=1)


class ActionCallConfig(_Model):
    action_id: str = Field(alias="actionId", min_length=1)
    version: int = Field(ge=1)
    input_mapping: dict[str, Value] = Field(default_factory=dict, alias="inputMapping")
    save_as: str | None = Field(None, alias="saveAs")
    idempotency_key: Value = Field(None, alias="idempotencyKey")


class EventWaitConfig(_Model):
    event_name: str = Field(alias="eventName", min_length=1)
    correlation_key: Value = Field(None, alias="correlationKey")
    filter: Value = None
    timeout_ms: int | None = Field(None, alias="timeoutMs", ge=1)
    save_as: str | None = Field(None, alias="saveAs")
    on_timeout: Literal["fail", "continue"] = Field("fail", alias="onTimeout")


class TimeWaitConfig(_Model):
    duration_ms: int | None = Field(None, alias="durationMs", ge=0, le=365 * 24 * 3600 * 1000)
    until: Value = None

    @model_validator(mode="after")
    def _one_of_duration_or_until(self) -> TimeWaitConfig:
        if (self.duration_ms is None) == (self.until is None):
            raise ValueError("give exactly one of 'durationMs' and 'until'")
        return self


class HumanTaskConfig(_Model):
    title: Value
    description: Value = None
    assignee: Value = None
    form_schema: dict[str, Any] = Field(alias="formSchema")
    timeout_ms: int | None = Field(None, alias="timeoutMs", ge=1)
    save_as: str | None = Field(None, alias="saveAs")


class EventEmitConfig(_Model):
    event_name: str = Field(alias="eventName", min_length=1)
    correlation_key: Value = Field(alias="correlationKey")
    payload: Value = None


BUILTIN_NODE_CONFIGS: dict[str, type[_Model]] = {
    "state.set": StateSetConfig,
    "transform.assign": AssignConfig,
    "action.call": ActionCallConfig,
    "event.wait": EventWaitConfig,
    "time.wait": TimeWaitConfig,
    "human.task": HumanTaskConfig,
    "event.emit": EventEmitConfig,
}
"""The config model of each built-in node type (registered in flowpin.registry.node_types)."""

# --------------------------------------------------------------------------- control steps


class _ControlStep(_Model):
    id: StepId
    name: str | None = None


class IfStep(_ControlStep):
    type: Literal["control.if"]
    condition: Value
    then: list[Step] = Field(default_factory=list)
    else_: list[Step] = Field(default_factory=list, alias="else")


class SwitchCase(_Model):
    id: StepId
    name: str | None = None
    when: Value
    steps: list[Step] = Field(default_factory=list)


class SwitchStep(_ControlStep):
    type: Literal["control.switch"]
    cases: list[SwitchCase]
    default: list[Step] = Field(default_factory=list)


class ForEachStep(_ControlStep):
    type: Literal["control.forEach"]
    items: Value
    item_var: str = Field("item", alias="itemVar", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    concurrency: int = Field(1, ge=1, le=100)
    body: list[Step] = Field(default_factory=list)
    collect: Value = None
    save_as: str | None = Field(None, alias="saveAs")
    on_item_error: Literal["fail", "continue"] = Field("fail", alias="onItemError")


class ParallelBranch(_Model):
    id: StepId
    name: str | None = None
    steps: list[Step] = Field(default_factory=list)


class ParallelStep(_ControlStep):
    type: Literal["control.parallel"]
    branches: list[ParallelBranch] = Field(min_length=1)
    save_as: str | None = Field(None, alias="saveAs")


class TryCatchStep(_ControlStep):
    type: Literal["control.tryCatch"]
    try_: list[Step] = Field(default_factory=list, alias="try")
    catch: list[Step] = Field(default_factory=list)
    capture_error_as: str | None = Field(None, alias="captureErrorAs")


class CallWorkflowStep(_ControlStep):
    type: Literal["control.callWorkflow"]
    workflow_key: WorkflowKey = Field(alias="workflowKey")
    version: int | Literal["latest"] = "latest"
    input_mapping: Value = Field(default_factory=dict, alias="inputMapping")
    save_as: str | None = Field(None, alias="saveAs")
    wait: bool = True


class ReturnStep(_ControlStep):
    type: Literal["control.return"]
    output: Value = None


class FailStep(_ControlStep):
    type: Literal["control.fail"]
    category: ErrorCategory = "ActionError"
    message: Value


ControlStep = (
    IfStep
    | SwitchStep
    | ForEachStep
    | ParallelStep
    | TryCatchStep
    | CallWorkflowStep
    | ReturnStep
    | FailStep
)

CONTROL_TYPES: dict[str, type[_ControlStep]] = {
    "control.if": IfStep,
    "control.switch": SwitchStep,
    "control.forEach": ForEachStep,
    "control.parallel": ParallelStep,
    "control.tryCatch": TryCatchStep,
    "control.callWorkflow": CallWorkflowStep,
    "control.return": ReturnStep,
    "control.fail": FailStep,
}

NODE_TAG = "node"
"""The union tag of every non-control step."""


def _step_tag(value: Any) -> str | None:
    step_type = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(step_type, str):
        return None
    if step_type.startswith("control."):
        return step_type if step_type in CONTROL_TYPES else None
    return NODE_TAG


Step = Annotated[
    Annotated[IfStep, Tag("control.if")]
    | Annotated[SwitchStep, Tag("control.switch")]
    | Annotated[ForEachStep, Tag("control.forEach")]
    | Annotated[ParallelStep, Tag("control.parallel")]
    | Annotated[TryCatchStep, Tag("control.tryCatch")]
    | Annotated[CallWorkflowStep, Tag("control.callWorkflow")]
    | Annotated[ReturnStep, Tag("control.return")]
    | Annotated[FailStep, Tag("control.fail")]
    | Annotated[NodeStep, Tag(NODE_TAG)],
    Discriminator(
        _step_tag,
        custom_error_type="unknown_step_type",
        custom_error_message="unknown step type (control types: "
        + ", ".join(sorted(CONTROL_TYPES))
        + ")",
    ),
]

# --------------------------------------------------------------------------- triggers


class EventTrigger(_Model):
    type: Literal["event"]
    event_name: str = Field(alias="eventName", min_length=1)
    subject: Value = None
    payload_mapping: Value = Field(None, alias="payloadMapping")
    filter: Value = None
    reentry: Literal["always", "never", "notWhileActive"] = "always"


CatchUp = Literal["latest", "all", "none"]
CATCH_UP_MODES: tuple[str, ...] = get_args(CatchUp)
MAX_CATCH_UP_WINDOW_MS = 10 * 366 * 24 * 3600 * 1000
"""Ten years: a longer window is every slot anyway (and stays a sane ``timedelta``)."""


class ScheduleTrigger(_Model):
    """A cron schedule. ``catchUp``: what the slots missed while no worker ran become -
    ``latest`` (default) one run for the most recent of them, ``all`` one run each (oldest
    first), ``none`` no run (only a slot due now fires). ``catchUpWindowMs``: a missed slot
    older than that is never fired, whatever ``catchUp`` says (``flowpin.store.schedules``)."""

    type: Literal["schedule"]
    cron: str
    timezone: str = "UTC"
    payload: Value = Field(default_factory=dict)
    catch_up: CatchUp = Field("latest", alias="catchUp")
    catch_up_window_ms: int | None = Field(None, alias="catchUpWindowMs")

    @field_validator("catch_up", mode="before")
    @classmethod
    def _catch_up(cls, value: Any) -> Any:
        if value not in CATCH_UP_MODES:
            raise ValueError(
                f"unknown catchUp {value!r}: use 'latest' (one run for the most recent missed "
                "slot), 'all' (one run per missed slot) or 'none' (missed slots are skipped)"
            )
        return value

    @field_validator("catch_up_window_ms", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        if value is None:
            return value
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole:
            raise ValueError("catchUpWindowMs must be a whole number of milliseconds")
        if not 0 < value <= MAX_CATCH_UP_WINDOW_MS:
            raise ValueError(
                f"catchUpWindowMs must be more than 0 and at most {MAX_CATCH_UP_WINDOW_MS} "
                f"(ten years), not {value!r}"
            )
        return int(value)


class ManualTrigger(_Model):
    type: Literal["manual"]


Trigger = Annotated[EventTrigger | ScheduleTrigger | ManualTrigger, Field(discriminator="type")]

# --------------------------------------------------------------------------- the definition


class Settings(_Model):
    """Workflow settings that travel with the definition (like an n8n workflow's ``settings``),
    so every version says how its runs are treated.

    ``redact``: JSON pointers (RFC 6901) into the run envelope - ``/payload/card/number``,
    ``/vars/customer/ssn`` - whose values are masked in stored step history and in every run
    the API returns; the run itself keeps the real values.

    ``concurrencyKey``: an expression over the start payload (``{"$expr": "payload.thread"}``)
    or a literal string; runs of the workflow with the same key run one at a time, in the
    order they started, each holding the key until it ends - waits and human tasks included
    (``flowpin.store.claims``). A run whose key is null runs unordered."""

    redact: list[str] = Field(default_factory=list, max_length=100)
    concurrency_key: Value = Field(None, alias="concurrencyKey")

    @field_validator("redact")
    @classmethod
    def _pointers(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_pointer(text)
        return value


class Definition(_Model):
    key: WorkflowKey
    name: str | None = None
    description: str | None = None
    payload_schema: dict[str, Any] | None = Field(None, alias="payloadSchema")
    triggers: list[Trigger] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    output: Value = None
    settings: Settings | None = None

    def to_json(self) -> dict[str, Any]:
        """The definition as JSON data, with the document's own key names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


for _model in (
    IfStep,
    SwitchCase,
    SwitchStep,
    ForEachStep,
    ParallelBranch,
    ParallelStep,
    TryCatchStep,
):
    _model.model_rebuild()
Definition.model_rebuild()
