"""Retry decisions and backoff (SPEC §4.3).

The delay before attempt ``n + 1`` after attempt ``n`` failed is
``backoffMs * backoffMultiplier ** (n - 1)``, capped by ``maxDelayMs``; with ``jitter: "full"``
(the default) it is a uniform draw in ``[0, delay)`` from a generator seeded by
``sha256(runId, token, n)``, so a recomputation draws the same delay. A ``retryAfterMs`` in the
error (an action raised ``RetryAfter``) replaces the computed delay. ``totalBudgetMs`` counts from
the first attempt's logical time: a retry whose attempt would start after the budget is not made.
"""

from __future__ import annotations

import hashlib
import random

from flowpin.definitions.models import RetryPolicy
from flowpin.runtime.failures import ACTION, NEVER_RETRIED, RETRYABLE_BY_DEFAULT


def should_retry(policy: RetryPolicy, category: str, retryable: bool | None, attempt: int) -> bool:
    """Whether the category and attempt count allow another attempt (the budget aside)."""
    if attempt >= policy.max_attempts or category in NEVER_RETRIED:
        return False
    if policy.retry_on is not None:
        return category in policy.retry_on
    if category in RETRYABLE_BY_DEFAULT:
        return retryable is not False
    return category == ACTION and retryable is True


def jitter_seed(run_id: str, token: str, attempt: int) -> int:
    digest = hashlib.sha256(f"{run_id}\x1f{token}\x1f{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def backoff_ms(policy: RetryPolicy, attempt: int, seed: int) -> int:
    """The delay after attempt ``attempt`` (1-based) failed."""
    delay = policy.backoff_ms * policy.backoff_multiplier ** (attempt - 1)
    if policy.max_delay_ms is not None:
        delay = min(delay, policy.max_delay_ms)
    if policy.jitter == "full":
        delay = random.Random(seed).random() * delay
    return int(delay)


def retry_delay(
    policy: RetryPolicy,
    category: str,
    *,
    retryable: bool | None,
    retry_after_ms: int | None,
    attempt: int,
    run_id: str,
    token: str,
    now_ms: int,
    first_ms: int,
) -> int | None:
    """Milliseconds to wait before the next attempt, or ``None`` when the step is not retried."""
    if not should_retry(policy, category, retryable, attempt):
        return None
    if retry_after_ms is not None:
        delay = max(0, int(retry_after_ms))
    else:
        delay = backoff_ms(policy, attempt, jitter_seed(run_id, token, attempt))
    if policy.total_budget_ms is not None and now_ms + delay - first_ms > policy.total_budget_ms:
        return None
    return delay
