"""A definition prepared for the interpreter: every step by id with its successor, its parsed
config and pre-parsed paths, so ``advance`` does no parsing per step.

Built once per ``Definition`` object (cached by identity) and without recursion, so pathological
nesting depths cost no stack.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from flowpin.definitions.models import (
    ActionCallConfig,
    AssignConfig,
    CallWorkflowStep,
    Definition,
    EventEmitConfig,
    EventWaitConfig,
    FailStep,
    ForEachStep,
    HumanTaskConfig,
    IfStep,
    NodeStep,
    ParallelStep,
    ReturnStep,
    StateSetConfig,
    SwitchStep,
    TimeWaitConfig,
    TryCatchStep,
)
from flowpin.expressions.paths import PathError, parse_path
from flowpin.runtime.evaluators import Condition, Evaluator, compile_condition, compile_value

# Step kinds, for dispatch.
STATE_SET = 0
ASSIGN = 1
ACTION = 2
EVENT_WAIT = 3
TIME_WAIT = 4
HUMAN_TASK = 5
EMIT = 6
UNKNOWN_NODE = 7
IF = 10
SWITCH = 11
FOREACH = 12
PARALLEL = 13
TRY = 14
CALL = 15
RETURN = 16
FAIL = 17

NODE_KINDS: dict[str, tuple[int, type[BaseModel]]] = {
    "state.set": (STATE_SET, StateSetConfig),
    "transform.assign": (ASSIGN, AssignConfig),
    "action.call": (ACTION, ActionCallConfig),
    "event.wait": (EVENT_WAIT, EventWaitConfig),
    "time.wait": (TIME_WAIT, TimeWaitConfig),
    "human.task": (HUMAN_TASK, HumanTaskConfig),
    "event.emit": (EMIT, EventEmitConfig),
}
CONTROL_KINDS: dict[type[Any], int] = {
    IfStep: IF,
    SwitchStep: SWITCH,
    ForEachStep: FOREACH,
    ParallelStep: PARALLEL,
    TryCatchStep: TRY,
    CallWorkflowStep: CALL,
    ReturnStep: RETURN,
    FailStep: FAIL,
}
NODE_STEP_KINDS = frozenset({*(kind for kind, _ in NODE_KINDS.values()), UNKNOWN_NODE})
"""Kinds of node steps (the failure ladder retries these; a control step is never retried)."""
WITH_CHILDREN = frozenset({IF, SWITCH, FOREACH, PARALLEL, TRY})
"""Kinds whose frames hold child pipelines."""


@dataclass(slots=True)
class StepInfo:
    step: Any
    """The definition's step model."""
    kind: int
    type: str
    next: str | None
    """The id of the following step in the same pipeline, ``None`` at its end."""
    config: Any = None
    """The parsed config of a node step."""
    problem: str | None = None
    """Why the step cannot run (a bad config or path); it then fails with a ValidationError."""
    save_as: tuple[str, ...] | None = None
    """``saveAs`` (or ``captureErrorAs``) split into segments."""
    values: dict[str, Evaluator] = field(default_factory=dict)
    """The step's own values, compiled (``input``, ``key``, ``items``, ``output`` …)."""
    conditions: list[tuple[str, Condition]] = field(default_factory=list)
    """``control.if``: ``[("then", condition)]``; switch: ``[(case id, when), …]``."""
    assign: list[tuple[str, tuple[str, ...], Evaluator]] = field(default_factory=list)
    first: dict[str, str | None] = field(default_factory=dict)
    """For control steps with children: branch name → the first step id of that pipeline."""
    uses_random: bool = False
    parent: str | None = None
    """The enclosing control step, ``None`` at the top level."""
    branch: str | None = None
    """Which of the parent's pipelines holds the step (``then``, a case id, ``body`` …)."""


@dataclass(slots=True)
class Program:
    definition: Definition
    steps: dict[str, StepInfo]
    first: str | None
    """The first step of the definition's pipeline."""
    output_explicit: bool
    output: Evaluator | None

    def info(self, step_id: str) -> StepInfo:
        return self.steps[step_id]


def _first(pipeline: list[Any]) -> str | None:
    return pipeline[0].id if pipeline else None


def _parse_path(path: str | None, info: StepInfo) -> tuple[str, ...] | None:
    if path is None:
        return None
    try:
        return parse_path(path)
    except PathError as exc:
        info.problem = str(exc)
        return None


def _compile_node(step: NodeStep, info: StepInfo) -> None:
    entry = NODE_KINDS.get(step.type)
    if entry is None:
        info.kind = UNKNOWN_NODE
        info.problem = f"the interpreter has no handler for node type {step.type!r}"
        return
    info.kind, model = entry
    try:
        info.config = config = model.model_validate(step.config)
    except ValidationError as exc:
        info.problem = f"invalid {step.type} config: {exc.errors(include_url=False)!r}"
        return
    info.save_as = _parse_path(getattr(config, "save_as", None), info)
    values = info.values
    if isinstance(config, AssignConfig):
        for path, value in config.assign.items():
            segments = _parse_path(path, info)
            if segments is not None:
                info.assign.append((path, segments, compile_value(value)))
    elif isinstance(config, ActionCallConfig):
        values["input"] = compile_value(config.input_mapping)
        if config.idempotency_key is not None:
            values["key"] = compile_value(config.idempotency_key)
    elif isinstance(config, EventWaitConfig):
        if config.correlation_key is not None:
            values["key"] = compile_value(config.correlation_key)
    elif isinstance(config, TimeWaitConfig):
        values["until"] = compile_value(config.until)
    elif isinstance(config, HumanTaskConfig):
        values["title"] = compile_value(config.title)
        values["description"] = compile_value(config.description)
        values["assignee"] = compile_value(config.assignee)
    elif isinstance(config, EventEmitConfig):
        values["key"] = compile_value(config.correlation_key)
        values["payload"] = compile_value(config.payload)


def _compile_control(step: Any, info: StepInfo) -> None:
    values = info.values
    if isinstance(step, IfStep):
        info.conditions.append(("then", compile_condition(step.condition)))
    elif isinstance(step, SwitchStep):
        info.conditions.extend((case.id, compile_condition(case.when)) for case in step.cases)
    elif isinstance(step, ForEachStep):
        values["items"] = compile_value(step.items)
        if step.collect is not None:
            values["collect"] = compile_value(step.collect)
    elif isinstance(step, CallWorkflowStep):
        values["input"] = compile_value(step.input_mapping)
    elif isinstance(step, ReturnStep):
        if "output" in step.model_fields_set:
            values["output"] = compile_value(step.output)
    elif isinstance(step, FailStep):
        values["message"] = compile_value(step.message)


def _children(step: Any) -> list[tuple[str, list[Any]]]:
    if isinstance(step, IfStep):
        return [("then", step.then), ("else", step.else_)]
    if isinstance(step, SwitchStep):
        return [(case.id, case.steps) for case in step.cases] + [("default", step.default)]
    if isinstance(step, TryCatchStep):
        return [("try", step.try_), ("catch", step.catch)]
    if isinstance(step, ForEachStep):
        return [("body", step.body)]
    if isinstance(step, ParallelStep):
        return [(branch.id, branch.steps) for branch in step.branches]
    return []


def _own_values(step: Any) -> list[Any]:
    """The values a control step evaluates itself (not those of its children)."""
    if isinstance(step, IfStep):
        return [step.condition]
    if isinstance(step, SwitchStep):
        return [case.when for case in step.cases]
    if isinstance(step, ForEachStep):
        return [step.items, step.collect]
    if isinstance(step, CallWorkflowStep):
        return [step.input_mapping]
    if isinstance(step, ReturnStep):
        return [step.output]
    if isinstance(step, FailStep):
        return [step.message]
    return []


def compile_program(definition: Definition) -> Program:
    steps: dict[str, StepInfo] = {}
    pending: list[tuple[list[Any], str | None, str | None]] = [(definition.steps, None, None)]
    while pending:
        pipeline, parent, branch = pending.pop()
        for position, step in enumerate(pipeline):
            following = pipeline[position + 1].id if position + 1 < len(pipeline) else None
            info = StepInfo(step=step, kind=-1, type=step.type, next=following)
            info.parent, info.branch = parent, branch
            if isinstance(step, NodeStep):
                _compile_node(step, info)
                info.uses_random = "$random" in json.dumps(step.config)
            else:
                info.kind = CONTROL_KINDS[type(step)]
                info.uses_random = "$random" in json.dumps(_own_values(step))
                _compile_control(step, info)
                path = getattr(step, "save_as", None) or getattr(step, "capture_error_as", None)
                info.save_as = _parse_path(path, info)
                for name, child in _children(step):
                    info.first[name] = _first(child)
                    pending.append((child, step.id, name))
            steps[step.id] = info
    explicit = "output" in definition.model_fields_set
    return Program(
        definition=definition,
        steps=steps,
        first=_first(definition.steps),
        output_explicit=explicit,
        output=compile_value(definition.output) if explicit else None,
    )


_cache: dict[int, Program] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def program_for(definition: Definition) -> Program:
    """The compiled program of ``definition``, cached while the definition object lives in the
    cache (the cache holds it, so its id cannot be reused by another object)."""
    program = _cache.get(id(definition))
    if program is not None and program.definition is definition:
        return program
    program = compile_program(definition)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[id(definition)] = program
    return program
