"""The actions every ``Registry()`` knows (``Registry(builtins=False)`` leaves them out).

- ``http.request@1`` (``flowpin.registry.builtin.http_request``): webhooks over httpx, with the
  SSRF address policy of SPEC §8.
- ``email.send@1`` (``flowpin.registry.builtin.email_send``): SMTP with sandboxed Jinja2
  templates, under the same address policy.

Every connection a built-in opens goes through ``flowpin.security.address_policy``.

Their input and output JSON Schemas come from their pydantic models, so validation, the designer
and the HTTP API know them like any registered action. httpx and Jinja2 are imported on first
use, not here, so loading the registry stays cheap.
"""

from __future__ import annotations

from flowpin.registry.actions import ActionSpec, action_spec
from flowpin.registry.builtin.email_send import configure_email_send, email_send
from flowpin.registry.builtin.http_request import configure_http_request, http_request

__all__ = [
    "BUILTIN_ACTIONS",
    "configure_email_send",
    "configure_http_request",
    "email_send",
    "http_request",
]


def _specs(*handlers: object) -> tuple[ActionSpec, ...]:
    specs = tuple(action_spec(handler) for handler in handlers)
    assert all(spec is not None for spec in specs)
    return specs  # type: ignore[return-value]


BUILTIN_ACTIONS: tuple[ActionSpec, ...] = _specs(http_request, email_send)
