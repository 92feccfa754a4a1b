"""Paths into the envelope (``vars.ticket.id``), used by ``saveAs``, ``transform.assign``,
``captureErrorAs`` and rules.

Writable paths start with ``vars.``, ``payload.`` or ``meta.``; prototype-pollution style segments
(``__proto__``, ``constructor``, ``prototype``) are refused, because definitions are shared with
JavaScript tooling (the designer) that would treat them specially.
"""

from __future__ import annotations

from typing import Any

WRITABLE_ROOTS = frozenset({"vars", "payload", "meta"})
FORBIDDEN_SEGMENTS = frozenset({"__proto__", "constructor", "prototype"})

_MISSING = object()


class PathError(ValueError):
    """A path is malformed or not allowed; the message says why."""


def parse_path(path: str, *, writable: bool = True) -> tuple[str, ...]:
    """Split and check a dotted path; a writable path needs a root in ``WRITABLE_ROOTS`` and at
    least one segment below it (``vars`` alone would replace every variable)."""
    if not isinstance(path, str) or not path:
        raise PathError("path is empty")
    segments = tuple(path.split("."))
    for segment in segments:
        if not segment:
            raise PathError(f"path {path!r} has an empty segment")
        if segment in FORBIDDEN_SEGMENTS or segment.startswith("__"):
            raise PathError(f"path {path!r} uses the forbidden segment {segment!r}")
    if writable:
        if segments[0] not in WRITABLE_ROOTS:
            raise PathError(
                f"path {path!r} must start with one of: "
                + ", ".join(sorted(f"{root}." for root in WRITABLE_ROOTS))
            )
        if len(segments) < 2:
            raise PathError(f"path {path!r} must name a field below {segments[0]!r}")
    return segments


def get_path(data: Any, path: str | tuple[str, ...], default: Any = None) -> Any:
    """Read ``path`` from nested dicts (list items by numeric segment); ``default`` if missing."""
    value = lookup(data, path)
    return default if value is _MISSING else value


def has_path(data: Any, path: str | tuple[str, ...]) -> bool:
    return lookup(data, path) is not _MISSING


def lookup(data: Any, path: str | tuple[str, ...]) -> Any:
    """Like ``get_path`` but returns the module's ``MISSING`` sentinel for an absent field."""
    segments = parse_path(path, writable=False) if isinstance(path, str) else path
    current = data
    for segment in segments:
        if isinstance(current, dict):
            if segment not in current:
                return _MISSING
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit():
            index = int(segment)
            if index >= len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


MISSING = _MISSING


def set_path(data: dict[str, Any], path: str | tuple[str, ...], value: Any) -> None:
    """Write ``value`` at ``path`` in place, creating intermediate objects; a non-object in the
    way is replaced by an object."""
    segments = parse_path(path) if isinstance(path, str) else path
    current = data
    for segment in segments[:-1]:
        child = current.get(segment)
        if not isinstance(child, dict):
            child = {}
            current[segment] = child
        current = child
    current[segments[-1]] = value
