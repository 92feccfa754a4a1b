"""Validate a definition: shape, structure, expressions, and what the catalog knows.

``validate(document, catalog)`` returns every problem found, errors and warnings, in document
order; ``ensure_valid`` raises ``DefinitionError`` (``details``: the problems as dicts) when
there is an error and returns the parsed ``Definition`` otherwise.

Validation runs in two phases. A document that does not have the shape of SPEC §2 (unknown keys,
missing fields, wrong types) only gets those ``INVALID_DEFINITION`` problems: the later checks
need the parsed tree. Everything else is one walk over the tree, which also runs the data-flow
analysis behind ``UNDEFINED_VARIABLE`` and ``UNREACHABLE_STEP``.

Codes (severity error unless noted):

``INVALID_DEFINITION``   shape: unknown key, missing field, wrong type; also payloadSchema
                          that is not a JSON Schema
``DUPLICATE_STEP_ID``    an id used twice. Step ids, switch case ids and parallel branch ids
                          share one namespace: positions, history, counts and layout find all
                          of them by id (``fan:left/wait``), so all must be unique
``UNKNOWN_NODE_TYPE``    a node step's type is not registered
``INVALID_CONFIG``       a node step's config does not match its node type's config model
                          (path into ``config``), or a human task's formSchema is not a schema
``UNKNOWN_ACTION``       ``actionId@version`` is not registered
``MISSING_REQUIRED_INPUT`` a required field of the action's input is not mapped (nested literal
                          objects are checked too; an ``$expr`` provides its whole subtree)
``INVALID_EXPRESSION``   a ``$expr`` that does not compile (``details.position``), or that is
                          not a string
``EMPTY_EXPRESSION``     a ``$expr`` that is empty or blank
``INVALID_CONDITION``    an if/switch condition that is neither a boolean, a ``$expr`` nor a
                          valid rule (SPEC §3.2)
``INVALID_ASSIGN_PATH``  a transform.assign key, ``saveAs`` or ``captureErrorAs`` that is not a
                          writable envelope path
``INVALID_SECRET_NAME``  a ``$secret`` name not matching ``[A-Z][A-Z0-9_]*``
``UNKNOWN_SCHEMA_REF``   ``{"$ref": "schema:<ref>"}`` naming no registered schema
``TOO_MANY_CASES``       a switch with more than 20 cases
``INVALID_CRON``         a schedule trigger's cron expression or time zone is invalid
``INVALID_CONCURRENCY_KEY`` ``settings.concurrencyKey`` is neither a ``$expr`` nor a non-empty
                          string, or its expression reads something other than ``payload``
                          (a run has nothing else when it starts)
``WAIT_WITHOUT_TIMEOUT`` (warning) an event.wait or human.task without ``timeoutMs``
``UNREACHABLE_STEP``     (warning) a step no path reaches (after control.return/control.fail,
                          or after a step every path through which ends the run)
``UNDEFINED_VARIABLE``   (warning) an expression reads ``vars.x`` that is not set on every path
                          to it (see ``_Validator``)

Without a catalog (``catalog=None``) the checks that need one (node types other than the
built-ins, actions, schema refs) are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from croniter import croniter
from pydantic import BaseModel, ValidationError

from flowpin.definitions.catalog import Catalog
from flowpin.definitions.loader import (
    Problem,
    Severity,
    definition_error,
    parse_definition,
    shape_problems,
)
from flowpin.definitions.models import (
    BUILTIN_NODE_CONFIGS,
    ActionCallConfig,
    AssignConfig,
    CallWorkflowStep,
    Definition,
    EventTrigger,
    EventWaitConfig,
    FailStep,
    ForEachStep,
    HumanTaskConfig,
    IfStep,
    NodeStep,
    ParallelStep,
    ReturnStep,
    ScheduleTrigger,
    Step,
    SwitchStep,
    TryCatchStep,
)
from flowpin.definitions.walk import StepEntry, index_steps, join_path, join_relative
from flowpin.expressions.jsonata import check_syntax, read_paths
from flowpin.expressions.paths import PathError, parse_path
from flowpin.expressions.rules import is_rule, rule_fields, validate_rule
from flowpin.expressions.values import is_expr, is_secret, iter_expressions, iter_secrets

__all__ = ["MAX_SWITCH_CASES", "Problem", "ensure_valid", "undefined_from", "validate"]

MAX_SWITCH_CASES = 20
SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SCHEMA_PREFIX = "schema:"

Defs = frozenset[str] | None
"""Top-level ``vars`` names set on every path to a point; ``None``: no path reaches it."""


def validate(document: Any, catalog: Catalog | None = None) -> list[Problem]:
    """Every problem of ``document`` (a raw document or a ``Definition``)."""
    definition, problems = parse_definition(document)
    if definition is None:
        return problems
    return _Validator(definition, catalog).run()


def ensure_valid(document: Any, catalog: Catalog | None = None) -> Definition:
    """The parsed definition; raises DefinitionError listing the problems if any is an error."""
    definition, problems = parse_definition(document)
    if definition is not None:
        problems = _Validator(definition, catalog).run()
    if definition is None or any(problem.is_error for problem in problems):
        key = document.get("key") if isinstance(document, Mapping) else None
        raise definition_error(problems, f"workflow {key!r}" if key else "definition")
    return definition


def undefined_from(
    definition: Definition,
    step_id: str,
    defined: frozenset[str],
    outer: Mapping[str, frozenset[str]],
    *,
    include_step: bool = True,
) -> list[Problem]:
    """The ``UNDEFINED_VARIABLE`` problems of what a run positioned at ``step_id`` executes
    from there on, given the ``vars`` names its scope actually holds (``defined``).

    The same "definitely assigned" analysis as ``validate``, started at a position instead of
    the top: the rest of the step's pipe, then the rest of each enclosing pipe outwards. Leaving
    a ``forEach`` or ``parallel`` enters the scope around it, whose actual names ``outer`` gives
    (by the loop's or parallel's step id; its ``saveAs`` is added). ``include_step=False`` skips
    the reads of the step itself (a parked wait has evaluated them already) but keeps what it
    writes. Used to check a migration against a run's real envelope.
    """
    index = index_steps(definition)
    entry = index.get(step_id)
    if entry is None or entry.kind != "step":
        return []
    checker = _Validator(definition, None)
    defs: Defs = defined
    start = entry.index
    if not include_step:
        defs = _Validator(definition, None)._step(entry.node, entry.path, defs)  # type: ignore[arg-type]
        start += 1
    current: StepEntry | None = entry
    while current is not None and defs is not None:
        pipe = [sibling.node for sibling in index.siblings(current.id)]
        defs = checker._pipe(pipe[start:], current.path, defs)  # type: ignore[arg-type]
        parent = index.get(current.parent_id) if current.parent_id is not None else None
        if parent is not None and parent.kind != "step":  # a case or branch: its step
            parent = index.get(parent.parent_id) if parent.parent_id is not None else None
        if parent is not None and isinstance(parent.node, ForEachStep | ParallelStep):
            defs = _with(outer.get(parent.id, frozenset()), _var_name(parent.node.save_as))
        current = parent
        start = parent.index + 1 if parent is not None else 0
    return [problem for problem in checker.problems if problem.code == "UNDEFINED_VARIABLE"]


def _meet(left: Defs, right: Defs) -> Defs:
    """Where two paths join: what both set (an unreachable side contributes nothing)."""
    if left is None:
        return right
    if right is None:
        return left
    return left & right


def _with(defs: Defs, *names: str | None) -> Defs:
    if defs is None:
        return None
    return defs | {name for name in names if name}


class _Validator:
    """One walk over the tree: per-step checks plus the data-flow analysis.

    The analysis is a forward "definitely assigned" pass over the pipeline. The state at a
    point is the set of top-level ``vars`` names every path to it has set (``Defs``). Reading
    ``vars.a.b`` needs ``vars.a``; assigning ``vars.a.b`` sets ``vars.a``. Steps in a pipe run
    in order; if/else and switch branches are intersected where they join; a forEach body sees
    ``vars.<itemVar>`` and ``vars.<itemVar>Index`` and after it only ``saveAs`` is added
    (iterations are isolated copies); parallel branches start from the same state and after
    the step only ``saveAs`` is added; a catch sees what was set before the try plus
    ``captureErrorAs``, and after a tryCatch what both the try and the catch path set holds. A
    node step's ``saveAs`` / assigned paths count only when the step cannot be skipped by
    ``onError: continue``; an event.wait timing out under ``onTimeout: continue`` still sets
    its ``saveAs`` (to null). control.return and control.fail end every path.
    """

    def __init__(self, definition: Definition, catalog: Catalog | None) -> None:
        self.definition = definition
        self.catalog = catalog
        self.problems: list[Problem] = []

    def run(self) -> list[Problem]:
        self._duplicate_ids()
        self._payload_schema()
        for index, trigger in enumerate(self.definition.triggers):
            self._trigger(trigger, join_path("triggers", index))
        self._concurrency_key()
        final = self._pipe(self.definition.steps, "steps", frozenset())
        self._values(self.definition.output, "output", None, final)
        return self.problems

    # ------------------------------------------------------------------ reporting

    def _add(
        self,
        code: str,
        message: str,
        path: str,
        step_id: str | None,
        *,
        severity: Severity = "error",
        details: dict[str, Any] | None = None,
    ) -> None:
        self.problems.append(
            Problem(
                code=code,
                message=message,
                path=path,
                step_id=step_id,
                severity=severity,
                details=details,
            )
        )

    # ------------------------------------------------------------------ whole-document checks

    def _duplicate_ids(self) -> None:
        index = index_steps(self.definition)
        for entry in index.duplicates:
            first = index.by_id[entry.id]
            self._add(
                "DUPLICATE_STEP_ID",
                f"id {entry.id!r} is already used by the {first.kind} at {first.path}; step, "
                "case and branch ids must be unique across the definition",
                join_path(entry.path, "id"),
                entry.id,
            )

    def _payload_schema(self) -> None:
        schema = self.definition.payload_schema
        if schema is None:
            return
        if not _is_ref_only(schema):
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                path = "payloadSchema"
                for part in exc.path:
                    path = join_path(path, part)
                self._add(
                    "INVALID_DEFINITION",
                    f"payloadSchema is not a valid JSON Schema: {exc.message}",
                    path,
                    None,
                )
        self._schema_refs(schema, "payloadSchema", None)

    def _concurrency_key(self) -> None:
        settings = self.definition.settings
        key = settings.concurrency_key if settings is not None else None
        if key is None:
            return
        path = "settings.concurrencyKey"
        if isinstance(key, str) and key.strip():
            return
        if not is_expr(key):
            self._add(
                "INVALID_CONCURRENCY_KEY",
                'concurrencyKey must be {"$expr": "…"} over the start payload (such as '
                '"payload.thread") or a non-empty string',
                path,
                None,
            )
            return
        before = len(self.problems)
        self._values(key, path, None, None)
        if len(self.problems) > before:
            return  # the expression itself is invalid: said already
        reads = read_paths(key["$expr"])
        roots = sorted({read[0] for read in reads or () if read and read[0] != "payload"})
        if reads is None or roots:
            self._add(
                "INVALID_CONCURRENCY_KEY",
                "concurrencyKey is computed when a run starts, from its payload only: "
                + (
                    f"it reads {', '.join(roots)}"
                    if roots
                    else "this expression may read anything ($, $$ or $eval)"
                ),
                path,
                None,
                details={"expression": key["$expr"], "reads": roots},
            )

    def _schema_refs(self, schema: Any, path: str, step_id: str | None) -> None:
        if self.catalog is None:
            return
        for ref_path, ref in _schema_refs(schema, path):
            if self.catalog.schema(ref) is None:
                self._add(
                    "UNKNOWN_SCHEMA_REF",
                    f"schema {ref!r} is not registered",
                    ref_path,
                    step_id,
                    details={"ref": ref},
                )

    def _trigger(self, trigger: Any, path: str) -> None:
        nothing_set: Defs = frozenset()  # a trigger runs before the run has any vars
        if isinstance(trigger, EventTrigger):
            for name, value in (
                ("subject", trigger.subject),
                ("payloadMapping", trigger.payload_mapping),
            ):
                self._values(value, join_path(path, name), None, nothing_set)
            if is_rule(trigger.filter):  # rules over ``event`` (SPEC §3.2), as in control.if
                where = join_path(path, "filter")
                messages = validate_rule(trigger.filter)
                for message in messages:
                    self._add("INVALID_CONDITION", message, where, None)
                if not messages:
                    self._event_fields(trigger.filter, where)
            else:
                self._values(trigger.filter, join_path(path, "filter"), None, nothing_set)
        elif isinstance(trigger, ScheduleTrigger):
            if not croniter.is_valid(trigger.cron):
                self._add(
                    "INVALID_CRON",
                    f"{trigger.cron!r} is not a valid cron expression",
                    join_path(path, "cron"),
                    None,
                )
            try:
                ZoneInfo(trigger.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self._add(
                    "INVALID_CRON",
                    f"unknown time zone {trigger.timezone!r} (use an IANA name such as "
                    "'Europe/Berlin')",
                    join_path(path, "timezone"),
                    None,
                )
            self._values(trigger.payload, join_path(path, "payload"), None, nothing_set)

    # ------------------------------------------------------------------ pipes and steps

    def _pipe(self, steps: Sequence[Step], base: str, defs: Defs) -> Defs:
        ended_by: str | None = None
        for index, step in enumerate(steps):
            path = join_path(base, index)
            if defs is None and ended_by is not None:
                self._add(
                    "UNREACHABLE_STEP",
                    f"step {step.id!r} never runs: every path ends the run at or inside "
                    f"{ended_by!r} before it",
                    path,
                    step.id,
                    severity="warning",
                )
            before = defs
            defs = self._step(step, path, defs)
            if before is not None and defs is None:
                ended_by = step.id
        return defs

    def _step(self, step: Step, path: str, defs: Defs) -> Defs:
        if isinstance(step, NodeStep):
            return self._node(step, path, defs)
        if isinstance(step, IfStep):
            self._condition(step.condition, join_path(path, "condition"), step.id, defs)
            then = self._pipe(step.then, join_path(path, "then"), defs)
            otherwise = self._pipe(step.else_, join_path(path, "else"), defs)
            return _meet(then, otherwise) if defs is not None else None
        if isinstance(step, SwitchStep):
            return self._switch(step, path, defs)
        if isinstance(step, ForEachStep):
            self._values(step.items, join_path(path, "items"), step.id, defs)
            self._write_path(step.save_as, join_path(path, "saveAs"), step.id)
            body_defs = _with(defs, step.item_var, f"{step.item_var}Index")
            after_body = self._pipe(step.body, join_path(path, "body"), body_defs)
            self._values(step.collect, join_path(path, "collect"), step.id, after_body)
            return _with(defs, _var_name(step.save_as))
        if isinstance(step, ParallelStep):
            self._write_path(step.save_as, join_path(path, "saveAs"), step.id)
            ends = False
            for index, branch in enumerate(step.branches):
                branch_path = join_path(join_path(join_path(path, "branches"), index), "steps")
                ends |= self._pipe(branch.steps, branch_path, defs) is None and defs is not None
            return None if ends else _with(defs, _var_name(step.save_as))
        if isinstance(step, TryCatchStep):
            self._write_path(step.capture_error_as, join_path(path, "captureErrorAs"), step.id)
            tried = self._pipe(step.try_, join_path(path, "try"), defs)
            caught_defs = _with(defs, _var_name(step.capture_error_as))
            caught = self._pipe(step.catch, join_path(path, "catch"), caught_defs)
            return _meet(tried, caught) if defs is not None else None
        if isinstance(step, CallWorkflowStep):
            self._values(step.input_mapping, join_path(path, "inputMapping"), step.id, defs)
            self._write_path(step.save_as, join_path(path, "saveAs"), step.id)
            return _with(defs, _var_name(step.save_as))
        if isinstance(step, ReturnStep):
            self._values(step.output, join_path(path, "output"), step.id, defs)
            return None
        if isinstance(step, FailStep):
            self._values(step.message, join_path(path, "message"), step.id, defs)
            return None
        raise AssertionError(f"unhandled step type {type(step).__name__}")  # pragma: no cover

    def _switch(self, step: SwitchStep, path: str, defs: Defs) -> Defs:
        cases_path = join_path(path, "cases")
        if len(step.cases) > MAX_SWITCH_CASES:
            self._add(
                "TOO_MANY_CASES",
                f"a switch has at most {MAX_SWITCH_CASES} cases, this one has "
                f"{len(step.cases)}; nest switches or use a lookup with transform.assign",
                cases_path,
                step.id,
            )
        joined: Defs = None
        for index, case in enumerate(step.cases):
            case_path = join_path(cases_path, index)
            self._condition(case.when, join_path(case_path, "when"), case.id, defs)
            joined = _meet(joined, self._pipe(case.steps, join_path(case_path, "steps"), defs))
        joined = _meet(joined, self._pipe(step.default, join_path(path, "default"), defs))
        return joined if defs is not None else None

    def _node(self, step: NodeStep, path: str, defs: Defs) -> Defs:
        config_path = join_path(path, "config")
        config_model = self._config_model(step, path)
        config: BaseModel | None = None
        if config_model is not None:
            try:
                config = config_model.model_validate(step.config)
            except ValidationError as exc:
                self.problems.extend(
                    shape_problems(
                        exc,
                        step.config,
                        model=config_model,
                        base_path=config_path,
                        step_id=step.id,
                        code="INVALID_CONFIG",
                    )
                )
        # expressions and secrets anywhere in the config (a form schema is not a value)
        values = {key: value for key, value in step.config.items() if key != "formSchema"}
        self._values(values, config_path, step.id, defs)

        save_as_path = join_path(config_path, "saveAs")
        written: list[str | None] = []
        if isinstance(config, ActionCallConfig):
            self._action_call(step, config, config_path)
            written.append(self._write_path(config.save_as, save_as_path, step.id))
        elif isinstance(config, AssignConfig):
            assign_path = join_path(config_path, "assign")
            for key in config.assign:
                written.append(self._write_path(key, join_path(assign_path, key), step.id))
        elif isinstance(config, EventWaitConfig | HumanTaskConfig):
            if config.timeout_ms is None:
                self._add(
                    "WAIT_WITHOUT_TIMEOUT",
                    f"{step.type} without timeoutMs may wait forever; set timeoutMs (and "
                    "onTimeout for event.wait) to decide what happens when nobody answers",
                    config_path,
                    step.id,
                    severity="warning",
                )
            written.append(self._write_path(config.save_as, save_as_path, step.id))
            if isinstance(config, EventWaitConfig) and is_rule(config.filter):
                # rules over the run's envelope and ``event`` (SPEC §3.2), as in control.if
                self._condition(config.filter, join_path(config_path, "filter"), step.id, defs)
            if isinstance(config, HumanTaskConfig):
                self._form_schema(config.form_schema, join_path(config_path, "formSchema"), step)
        elif isinstance(step.config.get("saveAs"), str):
            # a custom node type (or an invalid config): honour a saveAs it may have
            written.append(self._write_path(step.config["saveAs"], save_as_path, step.id))
        if step.on_error == "continue":  # the step may fail and be skipped: nothing is sure
            return defs
        return _with(defs, *written)

    def _config_model(self, step: NodeStep, path: str) -> type[BaseModel] | None:
        if self.catalog is None:
            return BUILTIN_NODE_CONFIGS.get(step.type)
        node_type = self.catalog.node_type(step.type)
        if node_type is None:
            self._add(
                "UNKNOWN_NODE_TYPE",
                f"unknown node type {step.type!r}",
                join_path(path, "type"),
                step.id,
            )
            return None
        return node_type.config_model

    def _action_call(self, step: NodeStep, config: ActionCallConfig, config_path: str) -> None:
        if self.catalog is None:
            return
        spec = self.catalog.action(config.action_id, config.version)
        if spec is None:
            message = f"action {config.action_id}@{config.version} is not registered"
            versions = getattr(self.catalog, "action_versions", None)
            known = versions(config.action_id) if callable(versions) else []
            if known:
                message += f" (registered versions: {', '.join(map(str, known))})"
            self._add("UNKNOWN_ACTION", message, join_path(config_path, "actionId"), step.id)
            return
        schema = spec.input_json_schema()
        mapping_path = join_path(config_path, "inputMapping")
        for missing in _missing_inputs(schema, config.input_mapping, schema):
            self._add(
                "MISSING_REQUIRED_INPUT",
                f"required input {'.'.join(missing)!r} of {config.action_id}@{config.version} "
                "is not mapped",
                _join_all(mapping_path, missing),
                step.id,
                details={"field": ".".join(missing)},
            )

    def _form_schema(self, schema: dict[str, Any], path: str, step: NodeStep) -> None:
        if not _is_ref_only(schema):
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                self._add(
                    "INVALID_CONFIG",
                    f"formSchema is not a valid JSON Schema: {exc.message}",
                    _join_all(path, list(exc.path)),
                    step.id,
                )
        self._schema_refs(schema, path, step.id)

    # ------------------------------------------------------------------ values

    def _values(self, value: Any, path: str, step_id: str | None, defs: Defs) -> None:
        """Check every ``$expr`` and ``$secret`` inside ``value``."""
        for relative, source in iter_expressions(value):
            self._expression(source, join_relative(path, relative), step_id, defs)
        for relative, name in iter_secrets(value):
            if not isinstance(name, str) or not SECRET_NAME.match(name):
                self._add(
                    "INVALID_SECRET_NAME",
                    f"secret name {name!r} must be upper case letters, digits and '_', "
                    "starting with a letter (e.g. SMTP_PASSWORD)",
                    join_relative(path, relative),
                    step_id,
                )

    def _expression(self, source: Any, expr_path: str, step_id: str | None, defs: Defs) -> None:
        """``expr_path`` is the path of the ``{"$expr": …}`` value itself."""
        if not isinstance(source, str):
            self._add(
                "INVALID_EXPRESSION",
                f"$expr must be a string, not {type(source).__name__}",
                expr_path,
                step_id,
            )
            return
        if not source.strip():
            self._add("EMPTY_EXPRESSION", "the expression is empty", expr_path, step_id)
            return
        error = check_syntax(source)
        if error is not None:
            self._add(
                "INVALID_EXPRESSION",
                error.message,
                expr_path,
                step_id,
                details={
                    "expression": source,
                    "position": error.position,
                    "reason": error.reason,
                    "jsonataCode": error.jsonata_code,
                },
            )
            return
        if defs is not None:
            self._reads(read_paths(source), expr_path, step_id, defs)

    def _reads(
        self,
        paths: Iterable[Sequence[str]] | None,
        path: str,
        step_id: str | None,
        defs: frozenset[str],
    ) -> None:
        if paths is None:  # the expression may read anything: nothing to say
            return
        names = sorted({read[1] for read in paths if len(read) >= 2 and read[0] == "vars"})
        for name in names:
            if name not in defs:
                self._add(
                    "UNDEFINED_VARIABLE",
                    f"vars.{name} is read here but not set on every path to this point",
                    path,
                    step_id,
                    severity="warning",
                    details={"variable": f"vars.{name}"},
                )

    def _event_fields(self, rule: Any, path: str) -> None:
        """A trigger's filter sees only ``event``: a rule on ``payload.plan`` would never
        match (or, with ``notExists``, always), so it is refused with the path to write."""
        for fields in sorted(rule_fields(rule) or ()):
            if fields and fields[0] != "event":
                name = ".".join(fields)
                self._add(
                    "INVALID_CONDITION",
                    f"a trigger's filter reads the event: {name} is not there "
                    f"(did you mean event.{name}?)",
                    path,
                    None,
                )

    def _condition(self, condition: Any, path: str, step_id: str, defs: Defs) -> None:
        if isinstance(condition, bool):
            return
        if is_expr(condition):
            self._values(condition, path, step_id, defs)
            return
        if is_rule(condition):
            messages = validate_rule(condition)  # also checks the expressions in its values
            for message in messages:
                self._add("INVALID_CONDITION", message, path, step_id)
            if not messages and defs is not None:
                self._reads(rule_fields(condition), path, step_id, defs)
            return
        self._add(
            "INVALID_CONDITION",
            'a condition must be true/false, {"$expr": "…"} or a rule '
            '({"field": …, "op": …, "value": …} or {"all"/"any": [rules]})',
            path,
            step_id,
        )

    def _write_path(self, target: str | None, path: str, step_id: str) -> str | None:
        """Check a saveAs / captureErrorAs / assign path; the ``vars`` name it sets, if any."""
        if target is None:
            return None
        try:
            segments = parse_path(target)
        except PathError as exc:
            self._add("INVALID_ASSIGN_PATH", str(exc), path, step_id, details={"target": target})
            return None
        return segments[1] if segments[0] == "vars" else None


# --------------------------------------------------------------------------- helpers


def _var_name(target: str | None) -> str | None:
    """``vars.ticket.id`` → ``ticket``; ``None`` for other roots or a bad path."""
    if not target:
        return None
    try:
        segments = parse_path(target)
    except PathError:
        return None
    return segments[1] if segments[0] == "vars" else None


def _join_all(base: str, keys: Iterable[str | int]) -> str:
    for key in keys:
        base = join_path(base, key)
    return base


def _is_ref_only(schema: Mapping[str, Any]) -> bool:
    ref = schema.get("$ref")
    return len(schema) == 1 and isinstance(ref, str) and ref.startswith(_SCHEMA_PREFIX)


def _schema_refs(schema: Any, path: str) -> Iterable[tuple[str, str]]:
    """``(document path, ref)`` of every ``{"$ref": "schema:<ref>"}`` in a JSON Schema."""
    if isinstance(schema, Mapping):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_SCHEMA_PREFIX):
            yield join_path(path, "$ref"), ref.removeprefix(_SCHEMA_PREFIX)
        for key, item in schema.items():
            if isinstance(key, str):
                yield from _schema_refs(item, join_path(path, key))
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _schema_refs(item, join_path(path, index))


def _missing_inputs(schema: Any, mapping: Any, root: Any) -> list[list[str]]:
    """Required properties of ``schema`` that ``mapping`` does not provide, as field paths.
    An expression or a secret provides everything below it; a literal object is checked
    against the property's own (object) schema."""
    if is_expr(mapping) or is_secret(mapping) or not isinstance(mapping, Mapping):
        return []
    schema = _resolve_schema(schema, root)
    missing: list[list[str]] = []
    properties = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    for name in schema.get("required", []) if isinstance(schema, Mapping) else []:
        if name not in mapping:
            missing.append([name])
            continue
        sub_schema = properties.get(name)
        if sub_schema is not None:
            missing += [[name, *rest] for rest in _missing_inputs(sub_schema, mapping[name], root)]
    return missing


def _resolve_schema(schema: Any, root: Any, depth: int = 0) -> Any:
    """Follow local ``$ref`` (``#/$defs/Address``) and a single-item ``allOf``."""
    while isinstance(schema, Mapping) and depth < 20:
        depth += 1
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, Mapping) else None
            schema = target
            continue
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and "properties" not in schema:
            schema = all_of[0]
            continue
        break
    return schema if isinstance(schema, Mapping) else {}
