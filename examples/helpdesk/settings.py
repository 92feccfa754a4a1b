"""The helpdesk's configuration, read from the environment when the package is installed.

- ``HELPDESK_ATTACHMENTS_DIR`` (``./helpdesk-attachments``): where attachment files are written,
  as ``<dir>/<tenant>/<ticket id>/<part index>-<file name>``;
- ``HELPDESK_SEED_DEFAULTS`` (``1``): on install, give a tenant that has no ticket defaults the
  catch-all ones (mailbox ``*``: board Support, status new, priority normal); ``0`` leaves it
  without, so every new-ticket email goes to ERROR_NO_TICKET_DEFAULTS and a person.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class HelpdeskSettings:
    attachments_dir: Path = Path("helpdesk-attachments")
    seed_defaults: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HelpdeskSettings:
        env = os.environ if env is None else env
        return cls(
            attachments_dir=Path(env.get("HELPDESK_ATTACHMENTS_DIR", "helpdesk-attachments")),
            seed_defaults=env.get("HELPDESK_SEED_DEFAULTS", "1").strip().lower()
            not in ("0", "false", "no"),
        )
