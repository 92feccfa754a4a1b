"""What the example packages (``helpdesk``, ``journeys``) share when they are installed.

Their actions are *declared* as module functions - what ``flowpin validate --actions`` and the
designer read - and *bound* at install time to an object holding the example's store and
settings, whose method of the same name as the action (``journeys.send_email`` →
``send_email``) handles it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowpin.errors import RegistryError
from flowpin.registry import ActionSpec
from flowpin.registry.actions import action_spec


def bind(declarations: Sequence[Any], handlers: object) -> list[ActionSpec]:
    """Each declaration's spec, handled by the method of ``handlers`` named like the action."""
    specs = []
    for declaration in declarations:
        spec = action_spec(declaration)
        assert spec is not None, f"{declaration!r} is not an @action"
        handler = getattr(handlers, spec.action_id.split(".", 1)[1])
        specs.append(dataclasses.replace(spec, handler=handler))
    return specs


def install(
    engine: Any, example: str, specs: Sequence[ActionSpec], declarations: Sequence[Any]
) -> None:
    """Register the bound ``specs`` (an action already registered stays), then publish the
    example's ``workflows/*.json`` (an unchanged one keeps its version). The unbound
    declarations of ``examples.<example>.actions`` in the registry are a clear error: a run
    would call them and fail."""
    for spec in specs:
        existing = engine.registry.action(spec.action_id, spec.version)
        if existing is None:
            engine.registry.register_action(spec)
        elif any(existing.handler is declaration for declaration in declarations):
            raise RegistryError(
                f"{existing.key} was registered unbound (--actions examples.{example}.actions?); "
                f"install(engine) registers the {example} actions itself"
            )
    for path in sorted((Path(__file__).parent / example / "workflows").glob("*.json")):
        engine.publish(path)
