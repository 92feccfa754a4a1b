"""JSONata behind flowpin's own API (SPEC §3.1).

Every expression in flowpin is compiled and evaluated here, so the engine (jlens today) can be
swapped without touching callers: no other module imports jlens, and nothing jlens-specific
leaks out (errors become ``ExpressionError``, limit codes are normalised, ``reads`` becomes
``read_paths``).

Bounds. Each evaluation runs under ``Limits``: a wall-clock budget enforced inside the engine
(an interrupt between evaluation steps, including inside a regular expression match, not a check
after the fact), a depth limit, a size limit on the result and on strings and arrays built while
evaluating. Whatever bound stops an evaluation, the caller gets an ``ExpressionLimitError`` (an
``ExpressionError``) whose ``jsonata_code`` is ``U1001`` — the code the JSONata reference test
harness uses for a runaway evaluation — and whose ``limit`` names the bound.

Threads. An evaluation holds Python's GIL only for ``Limits.hold_gil_ms`` (2 ms): one that
needs longer starts again on a ``jlens.Document`` converted beforehand, with the GIL released,
for what is left of its time budget, so a slow expression in the worker does not stall the API
or the worker's event loop (other threads of the same process).

Because the clock is checked between steps, one huge step (a copy, a sort, an allocation) runs to
its end; the string and array bounds are tight for that reason. Known gaps in jlens 0.25.0,
tracked by strict-xfail tests in ``tests/expressions/test_hostile.py``:

- a type error about a huge intermediate value (``$length([1..1200].[1..1200])``) materialises
  that value in Python for the error after the budget check: 0.2-0.3 s past the budget;
- a range is allocated before it is checked against ``max_array_length``: ``[1..9999999]``
  (just under JSONata's own 1e7 cap, D2014) peaks at ~230 MB and takes 80-600 ms.

Determinism. ``$now()`` and ``$millis()`` return the caller's ``now`` (the step's logical time)
for the whole evaluation, and ``$random()`` draws from ``seed``; with both given, an evaluation is
a pure function of its input, so a replay evaluates identically. With ``now=None`` the engine
reads the wall clock and with ``seed=None`` it draws fresh randomness: only previews should do
that. A naive ``datetime`` is taken as UTC.

Undefined. JSONata distinguishes an undefined result from ``null``; flowpin maps both to
``None`` unless the caller passes ``undefined=UNDEFINED`` (or any other marker).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

import jlens

from flowpin.errors import ExpressionError

__all__ = [
    "DEFAULT_LIMITS",
    "LIMIT_CODE",
    "UNDEFINED",
    "CompiledExpression",
    "ExpressionLimitError",
    "Limits",
    "Now",
    "boolean",
    "check_syntax",
    "compile_cache_clear",
    "compile_cache_info",
    "compile_expression",
    "evaluate",
    "read_paths",
]

Now = datetime | int | float | str | None
"""A logical time: a ``datetime`` (naive = UTC), milliseconds since the epoch, or ISO 8601."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied to one evaluation."""

    timeout_ms: float = 50.0
    """Wall-clock budget; the engine interrupts the evaluation when it runs out."""
    max_depth: int = 200
    """Maximum evaluation depth (nested calls and sub-expressions; ~3 per recursive call)."""
    max_result_bytes: int = 256 * 1024
    """Maximum size of the result, as JSON."""
    max_string_bytes: int = 1024 * 1024
    """Maximum length (UTF-8 bytes) of any string built while evaluating; input strings are not
    counted. Keeps a string-doubling loop from spending the budget inside one huge copy."""
    max_array_length: int = 100_000
    """Maximum length of any array built while evaluating; input arrays are not counted. Sorting
    or allocating a larger array is one uninterruptible step that can overrun the budget."""
    max_steps: int | None = None
    """Optional budget of evaluation steps, a deterministic alternative to ``timeout_ms``."""
    hold_gil_ms: float = 2.0
    """How long an evaluation may run while holding Python's GIL. One that needs longer is
    evaluated again, from the start, on a copy of its input converted beforehand, with the GIL
    released (for what is left of ``timeout_ms``): a slow expression then no longer stalls the
    other threads of the process (the API, the worker's event loop). Fast expressions keep the
    cheaper lazy read of their input."""

    def __post_init__(self) -> None:
        if not self.timeout_ms > 0:
            raise ValueError(f"timeout_ms must be positive, not {self.timeout_ms!r}")
        if not self.hold_gil_ms > 0:
            raise ValueError(f"hold_gil_ms must be positive, not {self.hold_gil_ms!r}")
        for name in ("max_depth", "max_result_bytes", "max_string_bytes", "max_array_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        steps = self.max_steps
        if steps is not None and (not isinstance(steps, int) or steps < 1):
            raise ValueError(f"max_steps must be a positive integer or None, not {steps!r}")


DEFAULT_LIMITS: Final = Limits()

LIMIT_CODE: Final = "U1001"
"""``jsonata_code`` of every ``ExpressionLimitError``."""


class ExpressionLimitError(ExpressionError):
    """An evaluation stopped by one of flowpin's bounds.

    ``limit`` is one of ``"time"``, ``"depth"``, ``"steps"``, ``"result_size"``,
    ``"string_size"``, ``"array_length"``, ``"nesting"`` (input or expression nested too
    deeply) or ``"other"``; ``engine_code`` keeps the engine's own code for diagnostics.
    """

    def __init__(
        self,
        reason: str,
        *,
        limit: str,
        expression: str,
        position: int | None = None,
        token: str | None = None,
        engine_code: str | None = None,
    ) -> None:
        super().__init__(
            reason, expression=expression, position=position, jsonata_code=LIMIT_CODE, token=token
        )
        self.limit = limit
        self.engine_code = engine_code


class _Undefined:
    """The marker for an undefined result (see ``CompiledExpression.evaluate``)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()

_SEED_MODULUS = 2**64


@dataclass(frozen=True, slots=True)
class CompiledExpression:
    """A parsed expression, safe to share between threads."""

    source: str
    _compiled: jlens.Expression

    def evaluate(
        self,
        data: Any,
        *,
        bindings: dict[str, Any] | None = None,
        now: Now = None,
        seed: int | None = None,
        limits: Limits = DEFAULT_LIMITS,
        undefined: Any = None,
    ) -> Any:
        """Evaluate against ``data`` (JSON-like Python values; ``None`` means no input).

        Returns the result as JSON-like Python values. An undefined result is returned as
        ``undefined`` (default ``None``, the same as ``null``); pass a marker such as
        ``UNDEFINED`` to tell the two apart, at the cost of a JSON round trip of the input.
        ``bindings`` maps names to values (``{"limit": 10}`` defines ``$limit``). Raises
        ExpressionError (ExpressionLimitError when a bound stopped the evaluation).
        """
        if seed is not None:
            seed %= _SEED_MODULUS
        try:
            if undefined is None:
                if limits.hold_gil_ms >= limits.timeout_ms:
                    return self._compiled.evaluate(
                        data, bindings, now=now, seed=seed, **_options(limits)
                    )
                return self._evaluate_in_two_phases(data, bindings, now, seed, limits)
            text = self._compiled.evaluate_json(
                None if data is None else _dumps(data),
                bindings,
                now=now,
                seed=seed,
                **_options(limits),
            )
            return undefined if text is None else json.loads(text)
        except jlens.JlensError as exc:
            raise _translate(exc, self.source) from exc
        except RecursionError as exc:
            raise ExpressionLimitError(
                "a value is nested too deeply", limit="nesting", expression=self.source
            ) from exc
        except (ValueError, TypeError, OverflowError) as exc:
            # A bad ``now``, bindings that are not a mapping of names, input that is not JSON.
            raise ExpressionError(f"cannot evaluate: {exc}", expression=self.source) from exc

    def _evaluate_in_two_phases(
        self, data: Any, bindings: dict[str, Any] | None, now: Now, seed: int | None, limits: Limits
    ) -> Any:
        """Lazily with the GIL held for ``hold_gil_ms``; if that was not enough, again on a
        converted ``Document`` with the GIL released, for the rest of the time budget."""
        started = time.perf_counter()
        try:
            return self._compiled.evaluate(
                data, bindings, now=now, seed=seed, **_options(limits, first_phase=True)
            )
        except jlens.JlensError as exc:
            if exc.code != _TIMEOUT_CODE:
                raise
        left = limits.timeout_ms / 1000.0 - (time.perf_counter() - started)
        options = {**_options(limits), "timeout": max(left, 1e-6)}
        return self._compiled.evaluate_document(
            jlens.Document(data), bindings, now=now, seed=seed, **options
        )

    def read_paths(self) -> set[tuple[str, ...]] | None:
        """See the module function ``read_paths``."""
        paths = _read_paths(self.source)
        return None if paths is None else set(paths)


def compile_expression(source: str) -> CompiledExpression:
    """Compile ``source`` (cached); raises ExpressionError with the position on a syntax error."""
    if not isinstance(source, str):
        raise ExpressionError(
            f"an expression must be a string, not {type(source).__name__}",
            expression=repr(source),
        )
    if not source.strip():
        raise ExpressionError("expression is empty", expression=source, position=0)
    return _compile_cached(source)


def evaluate(
    source: str,
    data: Any,
    *,
    bindings: dict[str, Any] | None = None,
    now: Now = None,
    seed: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    undefined: Any = None,
) -> Any:
    """Compile (cached) and evaluate ``source`` against ``data``."""
    return compile_expression(source).evaluate(
        data, bindings=bindings, now=now, seed=seed, limits=limits, undefined=undefined
    )


def check_syntax(source: str) -> ExpressionError | None:
    """The syntax error of ``source`` (with its position), or None when it compiles."""
    try:
        compile_expression(source)
    except ExpressionError as exc:
        return exc
    return None


def read_paths(source: str) -> set[tuple[str, ...]] | None:
    """The envelope paths ``source`` reads, or None when it may read anything.

    Each path is rooted at the top of the input: ``vars.a.b + payload.x`` reads
    ``{("vars", "a", "b"), ("payload", "x")}``. Paths go as deep as the expression looks (array
    indexes and filters are not segments: ``vars.items[0].price`` reads
    ``("vars", "items", "price")``); a path ending where the expression takes the whole value
    (``$keys(vars)`` reads ``("vars",)``) means everything below it. An expression that reads no
    input returns an empty set. None — "may read anything" — comes from ``$``/``$$`` used whole,
    ``$eval``, calls of unknown functions, and parent operators the engine cannot resolve.
    Raises ExpressionError on a syntax error.
    """
    return compile_expression(source).read_paths()


def boolean(value: Any) -> bool:
    """JSONata's ``$boolean`` cast of an evaluation result (``None`` = undefined/null).

    False: ``None``, ``false``, ``0``, ``""``, ``[]``, ``{}``, an array of only false values, and
    functions (which evaluation returns as ``None``). True: everything else.
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value != ""
    if isinstance(value, (list, tuple)):
        return any(boolean(item) for item in value)
    if isinstance(value, Mapping):
        return len(value) > 0
    return False


def compile_cache_info() -> Any:
    """Hits, misses and size of the compile cache (``functools`` cache info)."""
    return _compile_cached.cache_info()


def compile_cache_clear() -> None:
    _compile_cached.cache_clear()
    _read_paths.cache_clear()


# --------------------------------------------------------------------------------- internals


@lru_cache(maxsize=4096)
def _compile_cached(source: str) -> CompiledExpression:
    try:
        return CompiledExpression(source, jlens.Expression(source))
    except jlens.JlensError as exc:
        raise _translate(exc, source) from None
    except UnicodeEncodeError as exc:
        # A lone UTF-16 surrogate (``"\ud800"`` decoded from JSON) cannot reach the engine.
        raise ExpressionError(
            f"the expression contains an unpaired surrogate U+{ord(source[exc.start]):04X}, "
            "which is not valid Unicode",
            expression=source,
            position=exc.start,
        ) from None


@lru_cache(maxsize=64)
def _options(limits: Limits, *, first_phase: bool = False) -> dict[str, Any]:
    """The engine's keyword arguments for ``limits`` (computed once per Limits value: a step's
    every evaluation asks; do not change the dict); ``first_phase``: the time the evaluation
    may hold the GIL."""
    return _options_of(limits, first_phase)


@lru_cache(maxsize=256)
def _options_of(limits: Limits, first_phase: bool) -> dict[str, Any]:
    timeout = limits.hold_gil_ms if first_phase else limits.timeout_ms
    return {
        "timeout": timeout / 1000.0,
        "max_depth": limits.max_depth,
        "max_steps": limits.max_steps,
        "max_result_size": limits.max_result_bytes,
        "max_string_length": limits.max_string_bytes,
        "max_array_length": limits.max_array_length,
    }


def _dumps(data: Any) -> str:
    return json.dumps(data, allow_nan=False, separators=(",", ":"))


_TIMEOUT_CODE = "D1012"
_ENGINE_LIMITS = {"D1011": "depth", _TIMEOUT_CODE: "time", "U1006": "steps"}
_SIZE_LIMITS = (
    ("string would exceed", "string_size"),
    ("array would exceed", "array_length"),
    ("result would exceed", "result_size"),
    ("nested", "nesting"),
)


def _translate(exc: jlens.JlensError, source: str) -> ExpressionError:
    position = exc.position if exc.position is not None else exc.start
    code = getattr(exc, "code", None)
    token = getattr(exc, "token", None)
    reason = str(exc)
    limit = _ENGINE_LIMITS.get(code or "")
    if limit is None and code == LIMIT_CODE:
        lowered = reason.lower()
        limit = next((name for text, name in _SIZE_LIMITS if text in lowered), "other")
    if limit is not None:
        return ExpressionLimitError(
            reason,
            limit=limit,
            expression=source,
            position=position,
            token=token,
            engine_code=code,
        )
    return ExpressionError(
        reason, expression=source, position=position, jsonata_code=code, token=token
    )


@lru_cache(maxsize=4096)
def _read_paths(source: str) -> frozenset[tuple[str, ...]] | None:
    try:
        reads = compile_expression(source)._compiled.reads()
    except (jlens.JlensError, ValueError):
        return None
    if reads.get("everyBinding"):
        return None
    if "input" not in reads:
        return frozenset()
    found: set[tuple[str, ...]] = set()

    def visit(node: Any, prefix: tuple[str, ...]) -> bool:
        if node is True or not isinstance(node, Mapping) or not node:
            if not prefix:
                return False
            found.add(prefix)
            return True
        return all(visit(child, (*prefix, str(key))) for key, child in node.items())

    if not visit(reads["input"], ()):
        return None
    return frozenset(found)
