"""Environment secrets: ``{"$secret": "NAME"}`` read from ``FLOWPIN_ENV_SECRET_<NAME>``.

Two rules keep them from leaking (SPEC §8):

- **Their own prefix.** Only variables named ``FLOWPIN_ENV_SECRET_<NAME>`` are read, and no
  flowpin setting starts with ``FLOWPIN_ENV_SECRET_``, so no secret name can reach
  ``FLOWPIN_SECRET_KEY``, ``FLOWPIN_DATABASE_URL`` or any other setting. (The old
  ``FLOWPIN_SECRET_<NAME>`` made ``{"$secret": "KEY"}`` the server's master key.)
- **Named tenants only.** They are visible to the tenants listed in
  ``FLOWPIN_ENV_SECRETS_TENANTS`` (comma-separated, ``*`` for every tenant) or given to the
  Engine; by default only to the engine's own tenant (embedded mode, and the first tenant of
  ``flowpin serve``). Any other tenant gets ``secret.not_found``, as for a name never set.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "ENV_PREFIX",
    "LEGACY_PREFIX",
    "TENANTS_ENV",
    "EnvironmentSecrets",
    "tenants_for_env_secrets",
    "warn_legacy_secrets",
]

ENV_PREFIX = "FLOWPIN_ENV_SECRET_"
TENANTS_ENV = "FLOWPIN_ENV_SECRETS_TENANTS"
LEGACY_PREFIX = "FLOWPIN_SECRET_"
"""No longer read; ``FLOWPIN_SECRET_KEY`` is the one setting left with it."""
ALL_TENANTS = "*"
NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")

log = logging.getLogger("flowpin.security")


def tenants_for_env_secrets(
    explicit: Iterable[str] | None, own_tenant: str, environ: Mapping[str, str] = os.environ
) -> frozenset[str]:
    """The tenants that may read environment secrets: ``explicit`` when given, else
    ``FLOWPIN_ENV_SECRETS_TENANTS``, else ``own_tenant`` alone."""
    if explicit is None:
        text = environ.get(TENANTS_ENV, "").strip()
        explicit = text.split(",") if text else [own_tenant]
    return frozenset(name.strip() for name in explicit if name.strip())


class EnvironmentSecrets:
    """The secret lookup ``(tenant_id, name) -> value`` over ``FLOWPIN_ENV_SECRET_<NAME>``;
    raises ``KeyError`` for a tenant not in ``tenants`` (``*``: all) or a name not set.
    Values are read at call time, so a changed variable takes effect without a restart."""

    def __init__(self, tenants: Iterable[str], environ: Mapping[str, str] = os.environ) -> None:
        self.tenants = frozenset(tenants)
        self.environ = environ

    def visible_to(self, tenant_id: str) -> bool:
        return ALL_TENANTS in self.tenants or tenant_id in self.tenants

    def __call__(self, tenant_id: str, name: str) -> str:
        if not self.visible_to(tenant_id) or not NAME.match(name):
            raise KeyError(name)
        value = self.environ.get(ENV_PREFIX + name)
        if value is None:
            raise KeyError(name)
        return value


def warn_legacy_secrets(environ: Mapping[str, str] = os.environ) -> list[str]:
    """Log that each ``FLOWPIN_SECRET_<NAME>`` set in the environment is no longer read (and
    what to rename it to); returns the variables found. Values are never logged."""
    legacy = sorted(
        key for key in environ if key.startswith(LEGACY_PREFIX) and key != LEGACY_PREFIX + "KEY"
    )
    for key in legacy:
        log.warning(
            "%s is no longer read as a secret: rename it %s%s (visible to the tenants in "
            "%s, by default the engine's own tenant)",
            key,
            ENV_PREFIX,
            key.removeprefix(LEGACY_PREFIX),
            TENANTS_ENV,
        )
    return legacy
