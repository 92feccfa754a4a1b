"""Load a definition from a JSON or YAML file, text or dict into a ``Definition``.

Two stages, both reporting ``Problem`` values with document paths:

1. *Parsing* (``read_file``, ``parse_text``) turns text into the raw document: plain JSON data.
   Duplicate object keys, NaN/Infinity and YAML values that are not JSON (dates, non-string
   keys) are problems here, because the raw document is what gets hashed (ADR 0001) and what
   the designer edits.
2. *Shape* (``load_dict``) checks the document against the models of SPEC §2. pydantic reports
   locations with union tags in them (``('steps', 0, 'control.if', 'then', 0, 'node', …)``);
   ``shape_problems`` replays each location over the document and keeps only real keys and
   indexes, so paths read ``steps[0].then[0].retry.maxAttempts``, with the field names as the
   author wrote them (``else``, ``try``, ``inputMapping``).

Everything raises ``DefinitionError`` whose ``details`` is the list of problems as dicts (the
JSON the API returns); ``Problem.from_dict`` turns them back into objects.
"""

from __future__ import annotations

import datetime
import difflib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from flowpin.definitions.models import (
    CONTROL_TYPES,
    NODE_TAG,
    Definition,
    EventTrigger,
    ManualTrigger,
    NodeStep,
    ParallelBranch,
    RetryPolicy,
    ScheduleTrigger,
    SwitchCase,
)
from flowpin.definitions.walk import join_path
from flowpin.errors import DefinitionError

Severity = Literal["error", "warning"]
DocumentFormat = Literal["json", "yaml"]

INVALID_DEFINITION = "INVALID_DEFINITION"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One finding about a definition. ``path`` points into the document
    (``steps[2].config.inputMapping.ticketId``; ``""`` is the whole document); ``step_id`` is
    the innermost step (or switch case / parallel branch) containing it."""

    code: str
    message: str
    path: str = ""
    step_id: str | None = None
    severity: Severity = "error"
    details: dict[str, Any] | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "path": self.path,
            "stepId": self.step_id,
            "message": self.message,
        }
        if self.details is not None:
            data["details"] = self.details
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Problem:
        return cls(
            code=data["code"],
            message=data["message"],
            path=data.get("path", ""),
            step_id=data.get("stepId"),
            severity=data.get("severity", "error"),
            details=data.get("details"),
        )


def definition_error(problems: Iterable[Problem], subject: str = "definition") -> DefinitionError:
    """A DefinitionError listing ``problems`` (errors and warnings) in ``details``."""
    items = list(problems)
    errors = [problem for problem in items if problem.is_error]
    first = errors[0] if errors else (items[0] if items else None)
    count = len(errors)
    summary = f"{subject} is invalid: {count} error{'s' if count != 1 else ''}"
    if first is not None:
        where = f" at {first.path}" if first.path else ""
        summary += f"; first: {first.message}{where}"
    return DefinitionError(summary, details=[problem.to_dict() for problem in items])


# --------------------------------------------------------------------------- parsing


def read_file(path: str | os.PathLike[str], *, format: DocumentFormat | None = None) -> Any:
    """Read and parse a JSON or YAML file (format from the suffix, else sniffed)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise definition_error(
            [Problem(code=INVALID_DEFINITION, message=f"cannot read {file}: {exc}")], str(file)
        ) from exc
    if format is None:
        suffix = file.suffix.lower()
        format = "yaml" if suffix in {".yaml", ".yml"} else "json" if suffix == ".json" else None
    return parse_text(text, format=format, source=str(file))


def parse_text(
    text: str | bytes, *, format: DocumentFormat | None = None, source: str = "definition"
) -> Any:
    """Parse JSON or YAML text into plain JSON data. Without ``format``, text starting with
    ``{`` or ``[`` is JSON, anything else YAML."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise definition_error(
                [Problem(code=INVALID_DEFINITION, message=f"not UTF-8: {exc}")], source
            ) from exc
    if format is None:
        format = "json" if text.lstrip()[:1] in {"{", "["} else "yaml"
    data = _parse_json(text, source) if format == "json" else _parse_yaml(text, source)
    problems = list(_json_problems(data, ""))
    if problems:
        raise definition_error(problems, source)
    return _plain(data)


class _Pairs(dict[str, Any]):
    """An object as parsed, remembering the keys that occurred more than once."""

    duplicates: tuple[Any, ...] = ()


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _Pairs:
    result = _Pairs(pairs)
    if len(result) != len(pairs):
        seen: set[Any] = set()
        duplicates = []
        for key, _ in pairs:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        result.duplicates = tuple(duplicates)
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        message = f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        details = {"line": exc.lineno, "column": exc.colno}
    except ValueError as exc:
        message, details = f"invalid JSON: {exc}", None
    raise definition_error(
        [Problem(code=INVALID_DEFINITION, message=message, details=details)], source
    )


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that keeps duplicate keys visible (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _YamlLoader, node: yaml.MappingNode) -> _Pairs:
    loader.flatten_mapping(node)
    pairs = [
        (loader.construct_object(key, deep=True), loader.construct_object(value, deep=True))
        for key, value in node.value
    ]
    try:
        return _pairs_hook(pairs)
    except TypeError:  # an unhashable key (a YAML list or mapping used as a key)
        raise yaml.constructor.ConstructorError(
            None, None, "object keys must be strings", node.start_mark
        ) from None


_YamlLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_YamlLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        details = None
        message = f"invalid YAML: {getattr(exc, 'problem', None) or exc}"
        if mark is not None:
            details = {"line": mark.line + 1, "column": mark.column + 1}
            message += f" (line {mark.line + 1}, column {mark.column + 1})"
        raise definition_error(
            [Problem(code=INVALID_DEFINITION, message=message, details=details)], source
        ) from exc


def _json_problems(value: Any, path: str) -> Iterable[Problem]:
    """Duplicate keys and values JSON cannot hold, with their paths."""
    if isinstance(value, Mapping):
        for key in getattr(value, "duplicates", ()):
            yield Problem(
                code=INVALID_DEFINITION,
                path=join_path(path, key) if isinstance(key, str) else path,
                message=f"duplicate key {key!r}",
            )
        for key, item in value.items():
            if not isinstance(key, str):
                yield Problem(
                    code=INVALID_DEFINITION,
                    path=path,
                    message=f"object key {key!r} is not a string (quote it in YAML)",
                )
                continue
            yield from _json_problems(item, join_path(path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _json_problems(item, join_path(path, index))
    elif isinstance(value, float) and not math.isfinite(value):
        yield Problem(code=INVALID_DEFINITION, path=path, message=f"{value} is not valid JSON")
    elif isinstance(value, datetime.date | datetime.datetime):
        yield Problem(
            code=INVALID_DEFINITION,
            path=path,
            message=f"a YAML {type(value).__name__} is not JSON; quote it to make it a string",
        )
    elif not (value is None or isinstance(value, bool | int | float | str)):
        yield Problem(
            code=INVALID_DEFINITION,
            path=path,
            message=f"a value of type {type(value).__name__} is not JSON",
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


# --------------------------------------------------------------------------- shape


def load_document(
    source: Mapping[str, Any] | os.PathLike[str] | str | bytes,
    *,
    format: DocumentFormat | None = None,
) -> Any:
    """The raw document (plain JSON data) from a file (a ``Path``), text (``str``/``bytes``)
    or an already parsed mapping (checked and copied). Only parsing: see ``load_definition``."""
    if isinstance(source, os.PathLike):
        return read_file(source, format=format)
    if isinstance(source, str | bytes):
        return parse_text(source, format=format)
    problems = list(_json_problems(source, ""))
    if problems:
        raise definition_error(problems)
    return _plain(source)


def load_definition(
    source: Mapping[str, Any] | os.PathLike[str] | str | bytes,
    *,
    format: DocumentFormat | None = None,
) -> Definition:
    """Parse and shape-check a definition (see ``load_document`` for ``source``). Only the
    shape: catalog and semantic checks are ``flowpin.definitions.validate``."""
    name = str(source) if isinstance(source, os.PathLike) else "definition"
    definition, problems = parse_definition(load_document(source, format=format))
    if definition is None:
        raise definition_error(problems, name)
    return definition


def parse_definition(document: Any) -> tuple[Definition | None, list[Problem]]:
    """``(Definition, [])`` or ``(None, shape problems)``; never raises for a bad document."""
    if isinstance(document, Definition):
        return document, []
    if not isinstance(document, Mapping):
        return None, [
            Problem(
                code=INVALID_DEFINITION,
                message=f"a definition must be an object, not {_json_type(document)}",
            )
        ]
    try:
        return Definition.model_validate(dict(document)), []
    except ValidationError as exc:
        return None, shape_problems(exc, document, model=Definition)


def shape_problems(
    exc: ValidationError,
    document: Any,
    *,
    model: type[BaseModel] | None = None,
    base_path: str = "",
    step_id: str | None = None,
    code: str = INVALID_DEFINITION,
) -> list[Problem]:
    """Turn pydantic errors about ``document`` into problems with document paths.

    ``base_path``/``step_id`` place a sub-document (a node step's ``config``) in the whole
    definition; ``model`` is the model ``document`` was validated against (for suggestions)."""
    problems: list[Problem] = []
    by_path: dict[str, int] = {}
    for error in exc.errors():
        path, node, node_step_id, owner_model, dropped = _replay(error["loc"], document, model)
        message, missing_key = _message(error, node, owner_model)
        if missing_key is not None:
            path = join_path(path, missing_key)
        full_path = _prefix(base_path, path)
        if dropped and full_path in by_path:  # alternatives of one union field: merge them
            index = by_path[full_path]
            previous = problems[index]
            problems[index] = Problem(
                code=code,
                path=full_path,
                step_id=previous.step_id,
                message=f"{previous.message}, or {message[:1].lower()}{message[1:]}",
            )
            continue
        by_path[full_path] = len(problems)
        problems.append(
            Problem(
                code=code,
                path=full_path,
                step_id=node_step_id or step_id,
                message=message,
            )
        )
    return problems


_STEP_PIPES = frozenset({"steps", "then", "else", "default", "body", "try", "catch"})
_ID_CONTAINERS = _STEP_PIPES | {"cases", "branches"}
_TAG_MODELS: dict[str, type[BaseModel]] = {
    **CONTROL_TYPES,
    NODE_TAG: NodeStep,
    "event": EventTrigger,
    "schedule": ScheduleTrigger,
    "manual": ManualTrigger,
}
_OBJECT_MODELS: dict[str, type[BaseModel]] = {"retry": RetryPolicy}
_ITEM_MODELS: dict[str, type[BaseModel]] = {"cases": SwitchCase, "branches": ParallelBranch}


def _replay(
    loc: tuple[int | str, ...], document: Any, model: type[BaseModel] | None
) -> tuple[str, Any, str | None, type[BaseModel] | None, bool]:
    """Follow ``loc`` through ``document``. Returns the path of real keys and indexes; the
    value there (the containing object when the last key is missing); the innermost step id on
    the way; the model of the object holding the last key (when known, for suggestions); and
    whether elements were dropped after the last real one (union member names)."""
    path = ""
    node: Any = document
    step_id: str | None = None
    node_model = model
    owner_model: type[BaseModel] | None = None
    parent_key: str | None = None
    dropped = False
    for position, element in enumerate(loc):
        last = position == len(loc) - 1
        if isinstance(node, Mapping) and isinstance(element, str):
            if element not in node and not last:
                if element in _TAG_MODELS:  # the union member chosen for this object
                    node_model = _TAG_MODELS[element]
                else:
                    dropped = True
                continue
            owner_model = node_model
            path = join_path(path, element)
            if element not in node:  # a missing field: the path names it
                break
            parent_key = element
            node = node[element]
            node_model = _OBJECT_MODELS.get(element)
            continue
        if isinstance(node, list) and isinstance(element, int) and 0 <= element < len(node):
            path = join_path(path, element)
            node = node[element]
            node_model = _ITEM_MODELS.get(parent_key or "")
            in_pipe = parent_key in _ID_CONTAINERS and isinstance(node, Mapping)
            if in_pipe and isinstance(node.get("id"), str):
                step_id = node["id"]
            continue
        dropped = True  # a union member name (``int``, ``literal['latest']``) below a scalar
    return path, node, step_id, owner_model, dropped


def _known_keys(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _prefix(base: str, path: str) -> str:
    if not base:
        return path
    if not path:
        return base
    return base + path if path.startswith("[") else f"{base}.{path}"


def _message(error: Any, node: Any, owner_model: type[BaseModel] | None) -> tuple[str, str | None]:
    """A readable message for one pydantic error, and the name of a missing key that the
    location does not include (a step without ``type``)."""
    kind = error["type"]
    loc = error["loc"]
    key = loc[-1] if loc else None
    if kind == "extra_forbidden":
        message = f"unknown key {key!r}"
        if owner_model is not None and isinstance(key, str):
            close = difflib.get_close_matches(key, sorted(_known_keys(owner_model)), n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
        return message, None
    if kind == "missing":
        return f"missing required field {key!r}", None
    if kind in {"unknown_step_type", "union_tag_invalid", "union_tag_not_found"}:
        if not isinstance(node, Mapping):
            return str(error["msg"]), None
        if "type" not in node:
            return "missing required field 'type'", "type"
        step_type = node["type"]
        if kind == "unknown_step_type" and isinstance(step_type, str):
            return (
                f"unknown control step type {step_type!r}; control types are "
                + ", ".join(sorted(CONTROL_TYPES))
            ), "type"
        if kind == "unknown_step_type":
            return f"'type' must be a string, not {_json_type(step_type)}", "type"
        return str(error["msg"]), "type"
    message = str(error["msg"])
    if kind == "value_error":  # raised by a model validator: drop pydantic's prefix
        message = message.removeprefix("Value error, ")
    return message, None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return "an object" if isinstance(value, Mapping) else type(value).__name__
