"""Registries of actions, node types and schemas (``Registry``), and the ``@action`` /
``@schema`` decorators applications use."""

from flowpin.registry.actions import ActionContext, ActionSpec, action
from flowpin.registry.catalog import Registry
from flowpin.registry.errors import ActionError, RetryAfter
from flowpin.registry.node_types import BUILTIN_NODE_TYPES, NodeTypeSpec
from flowpin.registry.schemas import SchemaSpec, SchemaViolation, schema

__all__ = [
    "BUILTIN_NODE_TYPES",
    "ActionContext",
    "ActionError",
    "ActionSpec",
    "NodeTypeSpec",
    "Registry",
    "RetryAfter",
    "SchemaSpec",
    "SchemaViolation",
    "action",
    "schema",
]
