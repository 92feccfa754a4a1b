"""``Registry``: the actions, node types and schemas one engine knows.

It satisfies ``flowpin.definitions.catalog.Catalog`` (``node_type``, ``action``, ``schema``
lookups), which is all validation and the runtime ask of it, and exports everything as JSON
Schema for the designer and the HTTP API (``to_json()``).

There is no process-global registry: ``@action`` and ``@schema`` only mark functions and
classes, and each ``Registry`` collects what it is given::

    registry = Registry()                  # built-in node types and actions are included
    registry.register(send_email)          # one @action function
    registry.register(my_app.actions)      # every @action / @schema defined in a module
    registry.load_module("my_app.actions") # the same, by name (CLI --actions, FLOWPIN_ACTIONS)

    @registry.define_action("crm.lookup", version=1, effect="none")
    def lookup(input: LookupIn) -> LookupOut: ...

Registering a second thing under a taken name (an action id@version, a node type name, a
schema ref) raises ``RegistryError``, including registering the same function twice.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any, TypeVar

from pydantic import BaseModel

from flowpin.definitions.models import RetryPolicy
from flowpin.errors import RegistryError
from flowpin.registry.actions import (
    ActionSpec,
    Effect,
    action,
    action_spec,
)
from flowpin.registry.builtin import BUILTIN_ACTIONS
from flowpin.registry.node_types import BUILTIN_NODE_TYPES, NodeTypeSpec
from flowpin.registry.schemas import (
    SchemaSpec,
    SchemaViolation,
    make_schema_spec,
    schema_spec,
    validate_instance,
)

F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    """Actions by ``(id, version)``, node types by name, schemas by ref."""

    def __init__(self, *, builtins: bool = True) -> None:
        self._actions: dict[tuple[str, int], ActionSpec] = {}
        self._node_types: dict[str, NodeTypeSpec] = {}
        self._schemas: dict[str, SchemaSpec] = {}
        if builtins:
            for spec in BUILTIN_NODE_TYPES:
                self.register_node_type(spec)
            for action_spec_ in BUILTIN_ACTIONS:  # http.request@1, email.send@1
                self.register_action(action_spec_)

    def __repr__(self) -> str:
        return (
            f"<Registry {len(self._actions)} actions, {len(self._node_types)} node types, "
            f"{len(self._schemas)} schemas>"
        )

    # ------------------------------------------------------------------ lookups (Catalog)

    def action(self, action_id: str, version: int) -> ActionSpec | None:
        return self._actions.get((action_id, version))

    def node_type(self, type_name: str) -> NodeTypeSpec | None:
        return self._node_types.get(type_name)

    def schema(self, ref: str) -> dict[str, Any] | None:
        """The JSON Schema registered as ``ref`` (without the ``schema:`` prefix)."""
        spec = self._schemas.get(ref)
        return spec.json_schema if spec is not None else None

    def actions(self) -> list[ActionSpec]:
        """Every action version, ordered by id then version."""
        return [self._actions[key] for key in sorted(self._actions)]

    def action_versions(self, action_id: str) -> list[int]:
        return sorted(version for (name, version) in self._actions if name == action_id)

    def node_types(self) -> list[NodeTypeSpec]:
        return list(self._node_types.values())

    def schemas(self) -> list[SchemaSpec]:
        return [self._schemas[ref] for ref in sorted(self._schemas)]

    def schema_spec(self, ref: str) -> SchemaSpec | None:
        return self._schemas.get(ref)

    # ------------------------------------------------------------------ registration

    def register(self, *items: Any) -> None:
        """Register ``@action`` functions, ``@schema`` models, ``ActionSpec``/``NodeTypeSpec``
        objects, or modules (every ``@action``/``@schema`` *defined* in the module; names it
        imports from elsewhere are left to their own module)."""
        for item in items:
            if isinstance(item, ModuleType):
                self.register_module(item)
            elif isinstance(item, ActionSpec) or action_spec(item) is not None:
                self.register_action(item)
            elif isinstance(item, NodeTypeSpec):
                self.register_node_type(item)
            elif isinstance(item, SchemaSpec) or schema_spec(item) is not None:
                self._add_schema(item if isinstance(item, SchemaSpec) else schema_spec(item))
            else:
                raise RegistryError(
                    f"cannot register {item!r}: expected an @action function, an @schema "
                    "model, an ActionSpec, a NodeTypeSpec or a module"
                )

    def register_module(self, module: ModuleType) -> list[ActionSpec]:
        """Register what ``module`` defines; returns its actions."""
        found: list[ActionSpec] = []
        schemas: list[SchemaSpec] = []
        for _, value in inspect.getmembers(module):
            if getattr(value, "__module__", None) != module.__name__:
                continue
            spec = action_spec(value)
            if spec is not None and all(spec is not seen for seen in found):  # aliases
                found.append(spec)
            schema = schema_spec(value)
            if schema is not None and all(schema is not seen for seen in schemas):
                schemas.append(schema)
        # all or nothing: a module with one clash registers none of its actions and schemas
        trial = Registry(builtins=False)
        trial._actions, trial._schemas = dict(self._actions), dict(self._schemas)
        for spec in found:
            trial.register_action(spec)
        for schema in schemas:
            trial._add_schema(schema)
        self._actions, self._schemas = trial._actions, trial._schemas
        return found

    def load_module(self, name: str) -> list[ActionSpec]:
        """Import ``name`` (``"my_app.actions"``) and register what it defines."""
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise RegistryError(
                f"cannot import actions module {name!r}: {exc}", details={"module": name}
            ) from exc
        return self.register_module(module)

    def register_action(self, item: ActionSpec | Callable[..., Any]) -> ActionSpec:
        spec = item if isinstance(item, ActionSpec) else action_spec(item)
        if spec is None:
            raise RegistryError(f"{item!r} is not an @action function")
        key = (spec.action_id, spec.version)
        if key in self._actions:
            existing = self._actions[key]
            raise RegistryError(
                f"action {spec.key} is already registered (by {_where(existing.handler)})",
                details={"actionId": spec.action_id, "version": spec.version},
            )
        self._actions[key] = spec
        return spec

    def define_action(
        self,
        action_id: str,
        *,
        version: int = 1,
        effect: Effect = "side_effect",
        retry: RetryPolicy | dict[str, Any] | None = None,
        retryable: Callable[[BaseException], bool] | Iterable[type[BaseException]] | None = None,
        input_model: type[BaseModel] | None = None,
        output_model: Any = None,
        description: str | None = None,
        transactional: bool = False,
    ) -> Callable[[F], F]:
        """``@action(...)`` that also registers the function here at once."""
        mark = action(
            action_id,
            version=version,
            effect=effect,
            retry=retry,
            retryable=retryable,
            input_model=input_model,
            output_model=output_model,
            description=description,
            transactional=transactional,
        )

        def decorate(fn: F) -> F:
            marked = mark(fn)
            self.register_action(marked)
            return marked

        return decorate

    def register_node_type(self, spec: NodeTypeSpec) -> NodeTypeSpec:
        if spec.type_name in self._node_types:
            raise RegistryError(
                f"node type {spec.type_name!r} is already registered",
                details={"type": spec.type_name},
            )
        self._node_types[spec.type_name] = spec
        return spec

    def register_schema(
        self,
        ref: str,
        source: type[BaseModel] | Mapping[str, Any],
        *,
        description: str | None = None,
    ) -> SchemaSpec:
        """Register a pydantic model or a JSON Schema dict as ``ref`` (``payload.Email.v1``)."""
        return self._add_schema(make_schema_spec(ref, source, description=description))

    def _add_schema(self, spec: SchemaSpec | None) -> SchemaSpec:
        assert spec is not None
        if spec.ref in self._schemas:
            raise RegistryError(
                f"schema {spec.ref!r} is already registered", details={"ref": spec.ref}
            )
        self._schemas[spec.ref] = spec
        return spec

    # ------------------------------------------------------------------ schema validation

    def validate_value(
        self, schema: str | Mapping[str, Any], value: Any, *, limit: int = 50
    ) -> list[SchemaViolation]:
        """Check ``value`` against a registered ref (``"payload.Email.v1"``, with or without
        ``schema:``) or a JSON Schema (which may ``$ref`` registered schemas). Raises
        RegistryError for an unknown ref."""
        if isinstance(schema, str):
            ref = schema.removeprefix("schema:")
            resolved = self.schema(ref)
            if resolved is None:
                raise RegistryError(f"unknown schema {ref!r}", details={"ref": ref})
            schema = resolved
        return validate_instance(schema, value, self.schema, limit=limit)

    # ------------------------------------------------------------------ export

    def to_json(self) -> dict[str, Any]:
        """Everything the designer's palette and forms need, as JSON Schema."""
        return {
            "nodeTypes": self.node_types_json(),
            "actions": self.actions_json(),
            "schemas": self.schemas_json(),
        }

    def node_types_json(self) -> list[dict[str, Any]]:
        return [spec.to_json() for spec in self.node_types()]

    def actions_json(self) -> list[dict[str, Any]]:
        return [spec.to_json() for spec in self.actions()]

    def schemas_json(self) -> list[dict[str, Any]]:
        return [spec.to_json() for spec in self.schemas()]

    def schema_json(self, ref: str) -> dict[str, Any] | None:
        spec = self._schemas.get(ref.removeprefix("schema:"))
        return spec.to_json() if spec is not None else None


def _where(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", "?")
    name = getattr(fn, "__qualname__", repr(fn))
    return f"{module}.{name}"
