"""Node types: the kinds of non-control steps (SPEC §1), each a config model plus a handler.

The seven built-ins below have their handlers in the runtime (``flowpin.runtime``), so their
``handler`` slot is ``None``. Their config models live in ``flowpin.definitions.models``;
validation checks every node step's ``config`` against the model registered for its type, and
the designer renders the config form from ``config_json_schema()``.

Custom node types (later): an application registers a ``NodeTypeSpec`` with its own config
model and a ``handler``. The interface the runtime will call is ``NodeHandler`` below: it gets
the step's config with every ``$expr`` already resolved against the envelope (``$secret``
references resolved at call time, as for actions) and an ``ActionContext``, and returns JSON
that is stored at the config's ``saveAs`` when there is one. Until the runtime supports custom
handlers, a custom node type validates and shows in the palette but a run reaching it fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from flowpin.definitions.models import (
    ActionCallConfig,
    AssignConfig,
    EventEmitConfig,
    EventWaitConfig,
    HumanTaskConfig,
    StateSetConfig,
    TimeWaitConfig,
)
from flowpin.errors import RegistryError
from flowpin.registry.actions import ActionContext

TYPE_NAME_PATTERN = re.compile(r"^[a-z][A-Za-z0-9_]*(\.[a-z][A-Za-z0-9_]*)+$")
"""The same pattern ``NodeStep.type`` accepts."""


class NodeHandler(Protocol):
    """What a custom node type will implement (see the module docstring)."""

    def __call__(self, config: BaseModel, ctx: ActionContext) -> Any: ...


@dataclass(frozen=True, slots=True)
class NodeTypeSpec:
    type_name: str
    config_model: type[BaseModel]
    description: str
    category: str
    """Palette group: ``state``, ``data``, ``action``, ``wait``, ``human``, ``event``, …"""
    handler: NodeHandler | None = None
    """``None`` for the built-ins, which the runtime implements itself."""

    def __post_init__(self) -> None:
        if not TYPE_NAME_PATTERN.match(self.type_name) or self.type_name.startswith("control."):
            raise RegistryError(
                f"node type name {self.type_name!r} must look like 'family.name' "
                "and must not start with 'control.'"
            )
        if not (isinstance(self.config_model, type) and issubclass(self.config_model, BaseModel)):
            raise RegistryError(
                f"node type {self.type_name}: config_model must be a pydantic model"
            )

    @property
    def builtin(self) -> bool:
        return self.type_name in BUILTIN_TYPE_NAMES

    def config_json_schema(self) -> dict[str, Any]:
        return self.config_model.model_json_schema(by_alias=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "category": self.category,
            "description": self.description,
            "builtin": self.builtin,
            "configSchema": self.config_json_schema(),
        }


BUILTIN_NODE_TYPES: tuple[NodeTypeSpec, ...] = (
    NodeTypeSpec(
        "state.set",
        StateSetConfig,
        "Set meta.state, a human-readable position such as CREATING_TICKET.",
        "state",
    ),
    NodeTypeSpec(
        "transform.assign",
        AssignConfig,
        "Evaluate values against the envelope and assign them to vars./payload./meta. paths, "
        "all at once.",
        "data",
    ),
    NodeTypeSpec(
        "action.call",
        ActionCallConfig,
        "Call a registered action with a mapped input; store its output at saveAs.",
        "action",
    ),
    NodeTypeSpec(
        "event.wait",
        EventWaitConfig,
        "Wait for a matching event (by name and correlation key), or until a timeout.",
        "wait",
    ),
    NodeTypeSpec(
        "time.wait",
        TimeWaitConfig,
        "Wait for a duration, or until a time (at most 365 days).",
        "wait",
    ),
    NodeTypeSpec(
        "human.task",
        HumanTaskConfig,
        "Create a task with a form for a person, and wait until it is completed.",
        "human",
    ),
    NodeTypeSpec(
        "event.emit",
        EventEmitConfig,
        "Submit an event from inside the run.",
        "event",
    ),
)

BUILTIN_TYPE_NAMES = frozenset(spec.type_name for spec in BUILTIN_NODE_TYPES)
