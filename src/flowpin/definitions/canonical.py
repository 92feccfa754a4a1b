"""Canonical JSON of a definition document and its version hash (ADR 0001).

A published version is identified by ``sha256(canonical_json(document))``. The canonical form
is computed from the *raw document* (the JSON the author wrote, after parsing), never from a
model dump, so adding an optional field with a default to the models can never change the hash
of a version that was published before.

Rules (``docs/adr/0001-canonical-json-and-version-hash.md``):

- object keys sorted by code point, separators ``,`` and ``:`` with no whitespace;
- UTF-8, non-ASCII characters written as themselves (``ensure_ascii=False``);
- a number with an integral value is written as an integer (``1.0`` → ``1``, ``-0.0`` → ``0``);
  other floats use Python's shortest round-trip ``repr`` (``0.1``, ``1e-07``);
- NaN, ±Infinity and strings with lone surrogates are refused, as are keys that are not
  strings and values that are not JSON (tuples are accepted as arrays).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from flowpin.errors import DefinitionError


class CanonicalJSONError(DefinitionError):
    """The value cannot be written as canonical JSON (NaN, a non-string key, a non-JSON type)."""

    code = "definition.not_json"


def normalize(value: Any, path: str = "") -> Any:
    """Return ``value`` as plain JSON data with integral floats turned into ints.

    Raises CanonicalJSONError (with the path of the offending value) for NaN/Infinity,
    non-string keys and values that are not JSON.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalJSONError(
                f"{value!r} is not a JSON number" + (f" (at {path})" if path else ""),
                details={"path": path},
            )
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(
                    f"object key {key!r} is not a string" + (f" (at {path})" if path else ""),
                    details={"path": path},
                )
            result[key] = normalize(item, f"{path}.{key}" if path else key)
        return result
    if isinstance(value, list | tuple):
        return [normalize(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise CanonicalJSONError(
        f"a value of type {type(value).__name__} is not JSON" + (f" (at {path})" if path else ""),
        details={"path": path},
    )


def canonical_json(document: Any) -> bytes:
    """The canonical UTF-8 bytes of ``document`` (see the module docstring)."""
    text = json.dumps(
        normalize(document),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from "\\ud800" in the source JSON
        raise CanonicalJSONError(f"a string is not valid Unicode: {exc.reason}") from exc


def version_hash(document: Any) -> str:
    """``sha256`` (lowercase hex) of the canonical JSON of ``document``."""
    return hashlib.sha256(canonical_json(document)).hexdigest()
