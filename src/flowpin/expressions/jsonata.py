"""JSONata behind flowpin's own API (SPEC §3.1).

Every expression in flowpin is compiled and evaluated here, so the engine (jlens today) can be
swapped without touching callers. Evaluation is bounded: a time limit enforced inside the engine
(an interrupt, not a check after the fact), a depth limit and a result-size limit. ``$now()``,
``$millis()`` and ``$random()`` are deterministic: the caller passes the logical time and a seed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import jlens

from flowpin.errors import ExpressionError


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied to one evaluation."""

    timeout_ms: float = 50.0
    """Wall-clock budget; the engine interrupts the evaluation when it runs out."""
    max_depth: int = 200
    """Maximum nesting of evaluation (recursion) depth."""
    max_result_bytes: int = 256 * 1024
    """Maximum size of the result as JSON."""
    max_string_bytes: int = 8 * 1024 * 1024
    """Maximum length of any string built during evaluation."""
    max_array_length: int = 1_000_000
    """Maximum length of any array built during evaluation."""


DEFAULT_LIMITS = Limits()


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
        now: datetime | int | float | None = None,
        seed: int | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> Any:
        """Evaluate against ``data``; an undefined result is ``None``."""
        try:
            return self._compiled.evaluate(
                data,
                bindings,
                timeout=limits.timeout_ms / 1000.0,
                max_depth=limits.max_depth,
                max_result_size=limits.max_result_bytes,
                max_string_length=limits.max_string_bytes,
                max_array_length=limits.max_array_length,
                now=now,
                seed=seed,
            )
        except jlens.JlensError as exc:
            raise _translate(exc, self.source) from exc
        except RecursionError as exc:
            raise ExpressionError("recursion too deep", expression=self.source) from exc

    def reads(self) -> dict[str, Any]:
        """What the expression reads of its input, as jlens reports it (``{"input": …}``)."""
        return dict(self._compiled.reads())


def _translate(exc: jlens.JlensError, source: str) -> ExpressionError:
    position = exc.position if exc.position is not None else exc.start
    return ExpressionError(
        str(exc),
        expression=source,
        position=position,
        jsonata_code=getattr(exc, "code", None),
        token=getattr(exc, "token", None),
    )


_cache_lock = threading.Lock()


@lru_cache(maxsize=4096)
def _compile_cached(source: str) -> CompiledExpression:
    try:
        return CompiledExpression(source, jlens.Expression(source))
    except jlens.JlensError as exc:
        raise _translate(exc, source) from exc


def compile_expression(source: str) -> CompiledExpression:
    """Compile ``source`` (cached); raises ExpressionError with the position on a syntax error."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("expression is empty", expression=str(source or ""), position=0)
    return _compile_cached(source)


def evaluate(
    source: str,
    data: Any,
    *,
    bindings: dict[str, Any] | None = None,
    now: datetime | int | float | None = None,
    seed: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """Compile (cached) and evaluate ``source`` against ``data``."""
    return compile_expression(source).evaluate(
        data, bindings=bindings, now=now, seed=seed, limits=limits
    )
