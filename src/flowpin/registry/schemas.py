"""Named JSON Schemas (``payload.Email.v1``) that definitions reference as
``{"$ref": "schema:payload.Email.v1"}`` — in ``payloadSchema``, a human task's ``formSchema``, or
nested anywhere inside another schema.

A schema is registered from a pydantic model (its JSON Schema, by alias) or a JSON Schema dict
(checked against the 2020-12 meta-schema). Refs are versioned by convention (``.v1``): a
registered schema never changes meaning, because published versions point at it.

    @schema("payload.Email.v1")
    class Email(BaseModel):
        from_: str = Field(alias="from")
        subject: str

``@schema`` only marks the class (like ``@action``); a ``Registry`` collects it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import jsonschema
import referencing
import referencing.exceptions
from pydantic import BaseModel
from referencing.jsonschema import DRAFT202012

from flowpin.errors import RegistryError

REF_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
REF_PREFIX = "schema:"
SCHEMA_ATTRIBUTE = "__flowpin_schema__"

M = TypeVar("M", bound=type[BaseModel])


@dataclass(frozen=True, slots=True)
class SchemaSpec:
    ref: str
    json_schema: dict[str, Any]
    model: type[BaseModel] | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "description": self.description, "schema": self.json_schema}


@dataclass(frozen=True, slots=True)
class SchemaViolation:
    """One way a value fails a schema; ``path`` is a JSON pointer into the value."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def schema(ref: str, *, description: str | None = None) -> Callable[[M], M]:
    """Mark a pydantic model class as the schema ``ref``; a Registry collects it."""

    def decorate(model: M) -> M:
        setattr(model, SCHEMA_ATTRIBUTE, make_schema_spec(ref, model, description=description))
        return model

    return decorate


def schema_spec(obj: Any) -> SchemaSpec | None:
    """The spec ``@schema`` attached to ``obj`` itself (not inherited from a base class)."""
    spec = vars(obj).get(SCHEMA_ATTRIBUTE) if isinstance(obj, type) else None
    return spec if isinstance(spec, SchemaSpec) else None


def make_schema_spec(
    ref: str,
    source: type[BaseModel] | Mapping[str, Any],
    *,
    description: str | None = None,
) -> SchemaSpec:
    """Build (and check) a schema spec from a pydantic model or a JSON Schema dict."""
    if not isinstance(ref, str) or not REF_PATTERN.match(ref):
        raise RegistryError(
            f"schema ref {ref!r} must be dotted names of letters, digits, '_' and '-' "
            "(e.g. 'payload.Email.v1'), without the 'schema:' prefix"
        )
    model: type[BaseModel] | None = None
    if isinstance(source, type) and issubclass(source, BaseModel):
        model = source
        json_schema = source.model_json_schema(by_alias=True)
        if description is None:
            description = source.__doc__.strip().split("\n\n")[0] if source.__doc__ else None
    elif isinstance(source, Mapping):
        json_schema = dict(source)
        try:
            jsonschema.Draft202012Validator.check_schema(json_schema)
        except jsonschema.SchemaError as exc:
            raise RegistryError(
                f"schema {ref!r} is not a valid JSON Schema: {exc.message}"
            ) from None
    else:
        raise RegistryError(f"schema {ref!r}: expected a pydantic model or a JSON Schema dict")
    return SchemaSpec(ref, json_schema, model, description)


def schema_refs(value: Any) -> list[tuple[str, str]]:
    """Every ``{"$ref": "schema:<ref>"}`` inside a JSON Schema, as ``(pointer, ref)``."""
    found: list[tuple[str, str]] = []

    def visit(node: Any, pointer: str) -> None:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                found.append((pointer, ref.removeprefix(REF_PREFIX)))
            for key, item in node.items():
                visit(item, f"{pointer}/{_escape(str(key))}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                visit(item, f"{pointer}/{index}")

    visit(value, "")
    return found


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def validate_instance(
    json_schema: Mapping[str, Any],
    value: Any,
    lookup: Callable[[str], dict[str, Any] | None],
    *,
    limit: int = 50,
) -> list[SchemaViolation]:
    """Check ``value`` against ``json_schema``; ``schema:<ref>`` references are resolved with
    ``lookup(ref)``. Returns at most ``limit`` violations, ordered by path."""

    def retrieve(uri: str) -> referencing.Resource[Any]:
        found = lookup(uri.removeprefix(REF_PREFIX)) if uri.startswith(REF_PREFIX) else None
        if found is None:
            raise referencing.exceptions.NoSuchResource(ref=uri)
        return referencing.Resource.from_contents(found, default_specification=DRAFT202012)

    registry: referencing.Registry[Any] = referencing.Registry(retrieve=retrieve)
    validator = jsonschema.Draft202012Validator(dict(json_schema), registry=registry)
    try:
        errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.path])
    except referencing.exceptions.Unresolvable as exc:
        raise RegistryError(f"unknown schema reference: {exc}") from None
    return [
        SchemaViolation(
            "".join(f"/{_escape(str(part))}" for part in error.absolute_path), error.message
        )
        for error in errors[:limit]
    ]
