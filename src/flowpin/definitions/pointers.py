"""JSON pointers (RFC 6901) into a run's envelope, as redaction settings name them:
``/payload/card/number``, ``/vars/customer/ssn``, ``/meta/…``.

Kept apart from the engine so the definition models can validate them without importing it.
"""

from __future__ import annotations

ROOTS = ("payload", "vars", "meta")

Pointer = tuple[str, ...]
"""A parsed pointer: its unescaped reference tokens, the first being one of ``ROOTS``."""


def parse_pointer(text: str) -> Pointer:
    """The tokens of ``text``; ``ValueError`` with a message naming what is wrong."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise ValueError(f"{text!r} is not a JSON pointer: it must start with '/' (RFC 6901)")
    tokens = []
    for raw in text[1:].split("/"):
        rest = raw.replace("~0", "").replace("~1", "")
        if "~" in rest:
            raise ValueError(
                f"{text!r} is not a JSON pointer: '~' must be followed by 0 or 1 (RFC 6901)"
            )
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    if tokens[0] not in ROOTS or len(tokens) < 2:
        raise ValueError(
            f"{text!r} must point inside the run envelope: /payload/…, /vars/… or /meta/…"
        )
    return tuple(tokens)


def parse_pointers(texts: list[str] | tuple[str, ...]) -> tuple[Pointer, ...]:
    return tuple(parse_pointer(text) for text in texts)
