"""The example's configuration, read once from the environment when the package is installed.

- ``JOURNEYS_SMTP_HOST`` (``127.0.0.1``), ``JOURNEYS_SMTP_PORT`` (``8025``, where
  ``python -m aiosmtpd -n -l 127.0.0.1:8025`` listens): the SMTP server journey emails go to
  (``email.send@1``, which needs ``FLOWPIN_SMTP_ALLOW`` for a private or loopback address);
- ``JOURNEYS_SMTP_SECURITY``: ``none`` (default), ``starttls`` or ``tls``;
- ``JOURNEYS_SMTP_USERNAME`` / ``JOURNEYS_SMTP_PASSWORD``: the SMTP login, when one is needed;
- ``JOURNEYS_FROM`` (``Journeys <hello@journeys.example>``): the sender of every journey email;
- ``JOURNEYS_WEBHOOK_URL`` (unset): where journeys notify the application (``http.request@1``,
  which also needs ``FLOWPIN_HTTP_ALLOW`` for a private or loopback address); unset: no webhook.

SMTP settings live here, not in the published workflow, so a version never pins a host or a port
(a test's random port, a staging relay) and the same JSON runs everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from flowpin.registry.builtin.email_send import SmtpConfig

Security = Literal["none", "starttls", "tls"]


@dataclass(frozen=True, slots=True)
class JourneySettings:
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_security: Security = "none"
    smtp_username: str | None = None
    smtp_password: str | None = None
    sender: str = "Journeys <hello@journeys.example>"
    webhook_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JourneySettings:
        env = os.environ if env is None else env
        defaults = cls()
        security = env.get("JOURNEYS_SMTP_SECURITY", defaults.smtp_security)
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"JOURNEYS_SMTP_SECURITY must be none, starttls or tls: {security!r}")
        return cls(
            smtp_host=env.get("JOURNEYS_SMTP_HOST", defaults.smtp_host),
            smtp_port=int(env.get("JOURNEYS_SMTP_PORT", defaults.smtp_port)),
            smtp_security=security,  # type: ignore[arg-type]
            smtp_username=env.get("JOURNEYS_SMTP_USERNAME") or None,
            smtp_password=env.get("JOURNEYS_SMTP_PASSWORD") or None,
            sender=env.get("JOURNEYS_FROM", defaults.sender),
            webhook_url=env.get("JOURNEYS_WEBHOOK_URL") or None,
        )

    def smtp(self) -> SmtpConfig:
        """The ``smtp`` part of an ``email.send@1`` input."""
        config: dict[str, Any] = {
            "host": self.smtp_host,
            "port": self.smtp_port,
            "security": self.smtp_security,
            "username": self.smtp_username,
            "password": self.smtp_password,
            "timeoutMs": 10_000,
        }
        return SmtpConfig.model_validate(config)

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        password = "'**********'" if self.smtp_password else "None"
        return (
            f"JourneySettings(smtp={self.smtp_host}:{self.smtp_port} {self.smtp_security}, "
            f"username={self.smtp_username!r}, password={password}, sender={self.sender!r}, "
            f"webhook_url={self.webhook_url!r})"
        )
