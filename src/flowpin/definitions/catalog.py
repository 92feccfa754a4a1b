"""What validation and the runtime need to know about registered things, as a Protocol.

``flowpin.registry.Registry`` satisfies it; definitions never import the registry, so the layers
stay one-directional (registry → definitions).
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel


class NodeTypeInfo(Protocol):
    type_name: str
    config_model: type[BaseModel]


class ActionInfo(Protocol):
    action_id: str
    version: int
    effect: str

    def input_json_schema(self) -> dict[str, Any]: ...


class Catalog(Protocol):
    def node_type(self, type_name: str) -> NodeTypeInfo | None: ...

    def action(self, action_id: str, version: int) -> ActionInfo | None: ...

    def schema(self, ref: str) -> dict[str, Any] | None: ...
