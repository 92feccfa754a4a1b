"""Logging for ``flowpin serve`` and ``flowpin worker``: stdlib ``logging`` to stderr, as text
for people or as one JSON object per line for machines (``--log-format json``).

Records about a run carry ``run_id``, ``step_id`` and ``workflow`` as ``extra`` fields; the
JSON format puts them at the top level, the text format after the message. What is logged is
ids, categories, codes and error messages - never payloads, inputs, outputs or secrets."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

FIELDS = ("run_id", "step_id", "workflow", "attempt", "category", "code", "worker")
"""The ``extra`` fields a record may carry, in the order the text format shows them."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the run fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message [run_id=… step_id=…]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{name}={getattr(record, name)}"
            for name in FIELDS
            if getattr(record, name, None) is not None
        ]
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the fields
        return f"{head} [{' '.join(fields)}]{newline}{rest}"


class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record comes: a stream that was swapped out
    and closed since (a test runner's capture, a daemon's redirect) never breaks a later one."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send flowpin's (and uvicorn's) records to stderr in ``log_format``. Only those loggers
    get ``level``: other libraries keep theirs (Alembic's INFO chatter stays quiet)."""
    handler = CurrentStderr()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_flowpin", False):
            root.removeHandler(old)
    handler._flowpin = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    for name in ("flowpin", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(level)
    # Their INFO lines carry whole URLs (query strings included) of action calls.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def safe_url(url: str) -> str:
    """A database URL as it may be logged: the password masked."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"
