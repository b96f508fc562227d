"""Retry delays: the design's formula with bounded jitter, as a pure function."""

from __future__ import annotations

import random

from conveyor.core.task import RetryPolicy

JITTER = 0.25
"""A retry waits between (1 - JITTER) and 1 times the formula's delay, never longer."""


def base_delay(policy: RetryPolicy, attempt: int) -> float:
    """Delay before the retry that follows failed attempt `attempt` (1-based), without jitter.

    >>> p = RetryPolicy(min_backoff=1.0, max_backoff=60.0, max_doublings=3)
    >>> [base_delay(p, n) for n in range(1, 7)]
    [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    >>> base_delay(RetryPolicy(min_backoff=10, max_backoff=30), 4)
    30.0
    """
    doublings = min(max(attempt - 1, 0), policy.max_doublings)
    return float(min(policy.max_backoff, policy.min_backoff * 2**doublings))


def retry_delay(
    policy: RetryPolicy, attempt: int, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt, or None when `attempt` was the last one.

    >>> retry_delay(RetryPolicy(max_attempts=2), 2) is None
    True
    >>> 0.75 <= retry_delay(RetryPolicy(min_backoff=1.0), 1) <= 1.0
    True
    """
    if attempt >= policy.max_attempts:
        return None
    delay = base_delay(policy, attempt)
    return delay * (1.0 - JITTER * (rng or random).random())
