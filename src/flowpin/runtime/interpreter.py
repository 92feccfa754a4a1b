"""The pure interpreter: (definition, checkpointed state, inputs, logical time) → ``Outcome``.

``advance`` resumes the positions the inputs name, runs every pure step it can reach, and stops
when each active position waits for something outside (an action result, an event, a timer, a
task, a child run) or the run ends. It reads no clock, no randomness and no database, and never
raises for a workflow error: a failed step is data, handled as SPEC §4.3 says (retry → the step's
``onError: continue`` → the nearest ``control.tryCatch`` or ``forEach`` with
``onItemError: continue`` → the run fails).

Decisions about semantics are recorded where they are made: ``machine`` (scheduling, abandoned
positions, ``limit.steps``), ``control`` (control steps), ``ladder`` (failures and retries); the
state format and the token grammar in ``state`` and ``docs/state-machines.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from flowpin.definitions.models import Definition
from flowpin.errors import ConflictError, NotFoundError
from flowpin.expressions.jsonata import DEFAULT_LIMITS, Limits
from flowpin.expressions.paths import MISSING, lookup
from flowpin.runtime._utils import ms
from flowpin.runtime.decisions import (
    CallAction,
    Input,
    Outcome,
    RunInfo,
)
from flowpin.runtime.machine import ActionRetry, Machine
from flowpin.runtime.program import (
    ACTION,
    FOREACH,
    PARALLEL,
    Program,
    StepInfo,
    program_for,
)
from flowpin.runtime.state import (
    STATE_FORMAT,
    copy_state,
    leaves,
    resume_timers,
)
from flowpin.types import JSONObject, RunStatus

__all__ = [
    "ActionRetry",
    "advance",
    "pending_calls",
    "resume_timers",
    "retry_state",
    "start_state",
]


# --------------------------------------------------------------------------- public API


def start_state(definition: Definition, payload: Any, meta: JSONObject | None = None) -> JSONObject:
    """The state of a new run: its first step is pending, to be executed by ``advance``.
    ``meta``: what the run's ``meta`` starts with (a schedule's slot), else empty."""
    program = program_for(definition)
    return {
        "v": STATE_FORMAT,
        "status": RunStatus.RUNNING.value,
        "envelope": {"payload": payload, "vars": {}, "meta": dict(meta or {}), "error": None},
        "root": {"s": program.first, "st": "new"},
        "g": 0,
        "pending": True,
    }


def advance(
    definition: Definition,
    state: JSONObject,
    run: RunInfo,
    inputs: Sequence[Input] = (),
    *,
    limits: Limits | None = None,
    action_retry: ActionRetry | None = None,
    now: datetime | None = None,
    should_yield: Callable[[], bool] | None = None,
    max_steps: int | None = None,
) -> Outcome:
    """Apply ``inputs`` in order and run until every active position is blocked.

    ``state`` is not modified (the outcome holds a new state sharing its unchanged values).
    ``now`` is the logical time of work no input triggered - a new run (default
    ``run.started_at``) or a run an operator retried (default the last time the run saw).
    ``action_retry`` gives an action's default retry policy, used when a step has no ``retry``.
    Inputs naming a position that is not waiting for them are ignored.

    ``should_yield`` is asked before each step after the first: when it answers True, the
    positions still to run are left runnable in the state and the outcome says ``yielded``
    (every input is applied all the same). The worker uses it for its CPU budget per run.

    ``max_steps``: the run's ``limit.steps`` - history rows (counted in the state's ``hs``)
    plus the steps this advance records or starts; past it the run fails at once.
    """
    program = program_for(definition)
    machine = Machine(
        program,
        copy_state(state),
        run,
        limits or DEFAULT_LIMITS,
        action_retry,
        should_yield,
        max_steps,
    )
    return machine.advance(inputs, now)


def retry_state(
    definition: Definition,
    state: JSONObject,
    from_step: str | None = None,
    new_payload: Any = None,
    *,
    now: datetime | None = None,
) -> JSONObject:
    """The state of an operator's "retry from step", for ``advance`` to continue from.

    Without ``from_step``, the run restarts where it stopped: the step that failed, and any
    position that was still active beside it (a canceled run restarts every active position).
    Attempts start again at 1. Action calls keep their idempotency keys, so what already
    succeeded is answered by the ledger; tasks, child runs and emitted events get new ids.

    With ``from_step``, the run restarts at that step with the current envelope; every action
    from there on runs again under new keys. The step may be nested in if/switch/tryCatch but
    not in a forEach or a parallel (``ConflictError``); an unknown id raises ``NotFoundError``.

    ``new_payload`` (unless ``None``) replaces the payload. ``now`` becomes the logical time of
    the restarted steps (default: the last time the run saw). The worker must close the run's
    open waits before the returned state is used: nothing is cancelled here.
    """
    program = program_for(definition)
    state = copy_state(state)
    generation = int(state.get("g", 0)) + 1
    if from_step is None:
        _restart_leaves(program, state, generation)
    else:
        state["root"] = _frames_to(program, state, from_step)
    state["g"] = generation
    state["status"] = RunStatus.RUNNING.value
    state["pending"] = True
    state["envelope"]["error"] = None
    state.pop("output", None)
    state.pop("failed", None)
    if new_payload is not None:
        state["envelope"]["payload"] = new_payload
    if now is not None:
        state["t"] = ms(now)
    return state


# --------------------------------------------------------------------------- retry helpers


def _restart_leaves(program: Program, state: JSONObject, generation: int) -> None:
    if state.get("root") is None:
        raise ConflictError(
            "the run has no step to retry from; name one", code="run.nothing_to_retry"
        )
    old_generation = int(state.get("g", 0))
    for ctx in list(leaves(state)):
        frame = ctx.frame
        step_id = frame.get("s")
        info = program.steps.get(step_id) if step_id is not None else None
        keep = frame.get("g", old_generation)
        for key in ("st", "n", "t0", "due", "g", "dead"):
            frame.pop(key, None)
        frame["st"] = "new"
        if info is not None and info.kind == ACTION:
            # The ledger answers the calls that already succeeded; a failed one is retried
            # under the same key (SPEC §4.5).
            frame["g"] = keep


def _frames_to(program: Program, state: JSONObject, step_id: str) -> JSONObject:
    info = program.steps.get(step_id)
    if info is None:
        raise NotFoundError(f"step {step_id!r} is not in this version", code="step.not_found")
    chain: list[tuple[StepInfo, str]] = []
    current = info
    while current.parent is not None:
        parent = program.steps[current.parent]
        if parent.kind in (FOREACH, PARALLEL):
            raise ConflictError(
                f"step {step_id!r} is inside {parent.type} {parent.step.id!r}; "
                "retry from that step instead",
                code="run.retry_inside_loop",
            )
        chain.append((parent, current.branch or ""))
        current = parent
    frame: JSONObject = {"s": step_id, "st": "new"}
    for parent, branch in chain:
        frame = {"s": parent.step.id, "b": branch, "c": frame}
        if branch == "catch":
            caught = state["envelope"].get("error")
            if parent.save_as is not None:
                saved = lookup(state["envelope"], parent.save_as)
                if saved is not MISSING:
                    caught = saved
            frame["e"] = caught
    return frame


def pending_calls(definition: Definition, state: JSONObject) -> list[CallAction]:
    """The action calls a checkpointed state is waiting for, rebuilt from its frames.

    A worker that takes over a run (after a crash, or after giving the run back while another
    run held its idempotency key) issues these again; the ledger decides whether the handler
    really runs. Calls whose frame predates the recorded key are left to the ledger's rows."""
    program = program_for(definition)
    calls = []
    for ctx in leaves(state):
        frame = ctx.frame
        if frame.get("st") != "call" or "k" not in frame:
            continue
        info = program.steps.get(frame["s"])
        if info is None or info.kind != ACTION:
            continue
        calls.append(
            CallAction(
                ctx.prefix + frame["s"],
                frame["s"],
                info.config.action_id,
                info.config.version,
                frame.get("in"),
                frame["k"],
                frame.get("n", 1),
                info.step.timeout_ms,
            )
        )
    return calls
