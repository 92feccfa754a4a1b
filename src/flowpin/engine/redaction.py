"""Redaction of returned run data (SPEC §8): the values of object keys matching a configured
pattern are replaced by ``"[redacted]"`` in run states, outputs, errors and history payloads as
the API returns them. The stored state is never touched (a run resumes from the real values).
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_KEYS = r"(?i)(password|passwd|secret|token|api[_-]?key|authorization|credit[_-]?card)"
MASK = "[redacted]"


class Redactor:
    def __init__(self, pattern: str | None = DEFAULT_KEYS) -> None:
        self.pattern = re.compile(pattern) if pattern else None

    def __call__(self, value: Any) -> Any:
        if self.pattern is None:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: MASK
                if isinstance(key, str) and self.pattern.search(key)  # type: ignore[union-attr]
                else self._walk(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._walk(item) for item in value]
        return value

    def run(self, view: dict[str, Any]) -> dict[str, Any]:
        """A run view (``get_run``) with its state, output, error and history redacted."""
        if self.pattern is None:
            return view
        result = dict(view)
        for field in ("state", "output", "error"):
            result[field] = self(view.get(field))
        if "history" in view:
            result["history"] = [self.step(item) for item in view["history"]]
        return result

    def step(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.pattern is None:
            return item
        return {**item, **{f: self(item.get(f)) for f in ("input", "output", "error")}}
