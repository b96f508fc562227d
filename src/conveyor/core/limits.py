"""Parsing the spellings of rates and durations, and the token bucket's arithmetic."""

from __future__ import annotations

import math
import re

from conveyor.errors import ConfigurationError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([smhd])\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_rate(text: str | float | int) -> float:
    """Tasks per second from `5/s`, `30/m`, `100/h`, `1/d`, or a plain number per second.

    >>> parse_rate("30/m")
    0.5
    >>> parse_rate(20)
    20.0
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _RATE.match(str(text))
        if not match:
            raise ConfigurationError(f"rate {text!r} must look like 5/s, 30/m, 100/h or 1/d")
        value = float(match.group(1)) / _UNITS[match.group(2)]
    if value <= 0 or math.isinf(value):
        raise ConfigurationError(f"rate {text!r} must be above zero")
    return value


def parse_duration(text: str | float | int) -> float:
    """Seconds from `30s`, `5m`, `2h`, `3d`, or a plain number of seconds.

    >>> parse_duration("5m"), parse_duration("1.5h"), parse_duration(10)
    (300.0, 5400.0, 10.0)
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ConfigurationError(f"duration {text!r} must look like 30s, 5m, 2h or 3d")
        value = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if value < 0 or math.isinf(value) or math.isnan(value):
        raise ConfigurationError(f"duration {text!r} must be a non-negative number of seconds")
    return value


def refill(tokens: float, elapsed: float, rate: float, size: int) -> float:
    """Tokens in a bucket after `elapsed` seconds of refilling at `rate`, capped at `size`.

    >>> refill(0.0, 0.25, 20.0, 5)
    5.0
    >>> refill(1.0, 0.05, 20.0, 5)
    2.0
    """
    return min(float(size), tokens + max(0.0, elapsed) * rate)


THROTTLE_POLL_SECONDS = 0.05
"""How soon to look again at a queue whose concurrency limit is reached."""


def bucket_tokens(
    tokens: float | None, tokens_at: float | None, now: float, rate: float, size: int
) -> float:
    """Tokens available now; a bucket never used starts full.

    >>> bucket_tokens(None, None, 100.0, 20.0, 5)
    5.0
    >>> bucket_tokens(0.0, 100.0, 100.25, 20.0, 10)
    5.0
    """
    if tokens is None or tokens_at is None:
        return float(size)
    return refill(tokens, now - tokens_at, rate, size)


def allowance(limit: int, running: int, max_concurrent: int | None, tokens: float | None) -> int:
    """How many tasks one claim may start: the free slots, within the queue's limits.

    >>> allowance(10, running=3, max_concurrent=5, tokens=None)
    2
    >>> allowance(10, running=0, max_concurrent=None, tokens=3.7)
    3
    """
    allowed = limit
    if max_concurrent is not None:
        allowed = min(allowed, max_concurrent - running)
    if tokens is not None:
        allowed = min(allowed, math.floor(tokens + 1e-9))
    return max(0, allowed)


def throttled_for(
    running: int, max_concurrent: int | None, tokens: float | None, rate: float | None
) -> float:
    """Seconds until a queue with due work may start one more task (0: it may now).

    >>> throttled_for(0, None, 0.5, 10.0)
    0.05
    >>> throttled_for(2, 2, None, None)
    0.05
    """
    wait = 0.0
    if max_concurrent is not None and running >= max_concurrent:
        wait = THROTTLE_POLL_SECONDS
    if tokens is not None and rate is not None and tokens < 1.0:
        wait = max(wait, (1.0 - tokens) / rate)
    return wait
