"""The contract between the pure interpreter and the worker that performs I/O.

The interpreter (``flowpin.runtime.interpreter.advance``) maps (definition, checkpointed state,
new inputs, logical time) to an ``Outcome``: the next state, the commands the worker must carry
out, the history rows to write, and the run's status. It never raises for a workflow error:
failures are data. The worker writes the outcome in one transaction (the checkpoint), carries out
the commands, and feeds what comes back (``Input`` values) into the next ``advance``.

Tokens name *where* in the run a command belongs: the frames of step ids (and loop indexes /
branch ids) that lead to the step, e.g. ``"items[3]/notify"`` or ``"fan:left/wait"``. They never
contain list indexes of the definition, so they survive edits and map between versions. The
attempt number is not part of a token.

Determinism: ``advance`` reads no clock and no randomness. Logical time comes from the inputs
(``at``) or, for a new run, from ``RunInfo.started_at``; ids it makes (child runs, emitted
events) are derived from ``(run_id, token)`` so a recomputation after a crash makes the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from flowpin.types import JSONObject, RunStatus

# --------------------------------------------------------------------------- run facts


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Immutable facts about a run; exposed to expressions as ``run``."""

    run_id: str
    workflow_key: str
    version: int
    subject: str | None
    started_at: datetime
    tenant_id: str = "default"

    def to_envelope(self) -> JSONObject:
        return {
            "id": self.run_id,
            "workflowKey": self.workflow_key,
            "version": self.version,
            "subject": self.subject,
            "startedAt": self.started_at.isoformat().replace("+00:00", "Z"),
        }


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of one ``CallAction``. Exactly one of ``output``/``error`` is meaningful:
    ``error`` is ``None`` on success. ``error`` has the SPEC §2 error shape keys ``category``,
    ``message`` and optionally ``data``, ``retryable`` (bool) and ``retryAfterMs`` (RetryAfter)."""

    token: str
    attempt: int
    at: datetime
    output: Any = None
    error: JSONObject | None = None
    started: datetime | None = None
    """When the handler was called (``at`` is when it returned); ``None`` when the ledger
    answered without a call."""


@dataclass(frozen=True, slots=True)
class WaitResolved:
    """A parked wait ended.

    kind ``event``: ``event`` is ``{id, name, key, payload, receivedAt}``;
    kind ``timeout``: an event.wait or human.task deadline passed;
    kind ``timer``: a ``WaitUntil`` (time.wait or retry backoff) is due, or an operator resumed it;
    kind ``task``: a human task was completed with ``data`` (already validated by the form).
    """

    token: str
    kind: Literal["event", "timeout", "timer", "task"]
    at: datetime
    event: JSONObject | None = None
    data: Any = None
    detail: JSONObject | None = None
    """Who resolved it, kept in the step's history row: ``{"taskId", "completedBy"}`` for a
    task, ``{"resumedBy": "operator"}`` for a timer an operator fired early."""


@dataclass(frozen=True, slots=True)
class ChildFinished:
    """A child run started by ``StartChild`` (with ``wait``) reached a terminal status."""

    token: str
    at: datetime
    status: RunStatus
    output: Any = None
    error: JSONObject | None = None


Input = ActionResult | WaitResolved | ChildFinished

# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class CallAction:
    """Call an action through the idempotency ledger (SPEC §4.5). ``input`` is resolved except
    for ``{"$secret": NAME}`` references, which the worker resolves at call time and never
    stores. The worker validates input/output against the action's models and enforces
    ``timeout_ms`` (a TimeoutError result)."""

    token: str
    step_id: str
    action_id: str
    version: int
    input: Any
    idempotency_key: str
    attempt: int
    timeout_ms: int | None = None


@dataclass(frozen=True, slots=True)
class WaitForEvent:
    token: str
    step_id: str
    event_name: str
    correlation_key: str | None
    filter: str | None
    """A JSONata source evaluated with ``{"event": …}`` merged into the envelope; ``None``
    accepts every event."""
    filter_envelope: JSONObject | None
    """The envelope the filter sees besides ``event`` (frozen at park time)."""
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class WaitUntil:
    token: str
    step_id: str
    due_at: datetime
    reason: Literal["time.wait", "retry"]


@dataclass(frozen=True, slots=True)
class CreateTask:
    token: str
    step_id: str
    title: str
    description: str | None
    assignee: str | None
    form_schema: JSONObject
    due_at: datetime | None
    task_id: str
    """Derived from (run_id, token, attempt), so a recomputation creates no second task."""


@dataclass(frozen=True, slots=True)
class StartChild:
    token: str
    step_id: str
    child_run_id: str
    workflow_key: str
    version: int | Literal["latest"]
    payload: Any
    wait: bool


@dataclass(frozen=True, slots=True)
class EmitEvent:
    step_id: str
    event_id: str
    name: str
    key: str | None
    payload: Any


@dataclass(frozen=True, slots=True)
class CancelWait:
    """A parked token is no longer wanted (its branch was abandoned by an error elsewhere)."""

    token: str


Command = CallAction | WaitForEvent | WaitUntil | CreateTask | StartChild | EmitEvent | CancelWait

# --------------------------------------------------------------------------- history and outcome


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    step_id: str
    token: str
    step_type: str
    attempt: int
    status: Literal["succeeded", "failed", "retrying", "waiting", "continued", "caught", "skipped"]
    at: datetime
    """The step's logical time, the value ``$now()`` returned in it."""
    input: Any = None
    output: Any = None
    error: JSONObject | None = None
    started_at: datetime | None = None
    """When the step (this attempt of it) began: an action's call, a wait's parking; with
    ``at`` it gives the duration the run viewer shows."""
    detail: JSONObject | None = None
    """What resolved a wait: the event's id, who completed a task, an operator's resume."""


@dataclass(slots=True)
class Outcome:
    state: JSONObject
    """The run's complete state to checkpoint: envelope (payload, vars, meta, error) and frames."""
    status: RunStatus
    """RUNNING while commands other than waits are outstanding, WAITING when every active token
    is parked, or a terminal status."""
    commands: list[Command] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    output: Any = None
    error: JSONObject | None = None
    current_steps: list[str] = field(default_factory=list)
    """Step ids of the active leaves (for step counts and the runs-by-step index)."""
    yielded: bool = False
    """``advance`` stopped because its caller's ``should_yield`` said so: some positions are
    left runnable (status ``new`` in the state) for the next ``advance``, without inputs."""
