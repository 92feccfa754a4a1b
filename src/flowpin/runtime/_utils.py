"""Small value helpers of the interpreter (times, keys, the run envelope, wait filters)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flowpin.expressions.wait_filters import FilterError, stored_filter
from flowpin.runtime.decisions import RunInfo
from flowpin.runtime.failures import VALIDATION, StepFailure
from flowpin.types import JSONObject


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(value: Any) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


_run_envelopes: dict[int, tuple[RunInfo, JSONObject]] = {}


def run_envelope(run: RunInfo) -> JSONObject:
    """``run.to_envelope()``, cached while the same RunInfo object is used (the worker keeps one
    per run it drives). The dict is shared between advances: it is never mutated."""
    cached = _run_envelopes.get(id(run))
    if cached is not None and cached[0] is run:
        return cached[1]
    envelope = run.to_envelope()
    if len(_run_envelopes) >= 4096:
        _run_envelopes.clear()
    _run_envelopes[id(run)] = (run, envelope)
    return envelope


def parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def key_string(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def text(value: Any) -> str | None:
    return key_string(value)


def filter_source(value: Any) -> str | None:
    """The filter a wait stores (``expressions.wait_filters``); a bad one fails the step."""
    try:
        return stored_filter(value)
    except FilterError as exc:
        raise StepFailure(VALIDATION, str(exc)) from None


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return parse_iso(value)
