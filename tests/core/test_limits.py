"""Invariant 7's arithmetic: rate and duration spellings, the token bucket, the allowance."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.core import limits
from conveyor.core.limits import (
    THROTTLE_POLL_SECONDS,
    allowance,
    bucket_tokens,
    parse_duration,
    parse_rate,
    refill,
    throttled_for,
)
from conveyor.errors import ConfigurationError


def test_doctests_hold() -> None:
    assert doctest.testmod(limits).failed == 0


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("5/s", 5.0),
        ("30/m", 0.5),
        ("7200/h", 2.0),
        ("86400/d", 1.0),
        ("2.5/s", 2.5),
        (" 20 / s ", 20.0),
        (20, 20.0),
        (0.25, 0.25),
        ("1/d", 1 / 86400),
    ],
)
def test_parse_rate_reads_every_spelling(text: str | float, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize(
    "text", ["", "5", "5/x", "/s", "-5/s", "0/s", 0, -1, "5/ss", "five/s", math.inf, True]
)
def test_parse_rate_refuses_what_is_not_a_rate(text: object) -> None:
    with pytest.raises(ConfigurationError, match="rate"):
        parse_rate(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("3d", 259200.0),
        ("1.5h", 5400.0),
        ("10", 10.0),
        (" 4 m ", 240.0),
        (0, 0.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration_reads_every_spelling(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "5w", "-1s", "1e3s", "soon", -1, math.inf, math.nan])
def test_parse_duration_refuses_what_is_not_a_duration(text: object) -> None:
    with pytest.raises(ConfigurationError, match="duration"):
        parse_duration(text)  # type: ignore[arg-type]


def test_a_bucket_never_used_starts_full() -> None:
    assert bucket_tokens(None, None, 1000.0, 20.0, 5) == 5.0
    assert bucket_tokens(0.0, None, 1000.0, 20.0, 5) == 5.0


def test_a_bucket_refills_at_its_rate_up_to_its_size() -> None:
    assert bucket_tokens(0.0, 100.0, 100.0, 20.0, 5) == 0.0
    assert bucket_tokens(0.0, 100.0, 100.05, 20.0, 5) == pytest.approx(1.0)
    assert bucket_tokens(0.5, 100.0, 100.1, 20.0, 5) == pytest.approx(2.5)
    assert bucket_tokens(0.0, 100.0, 100.25, 20.0, 5) == 5.0
    assert bucket_tokens(0.0, 100.0, 10_000.0, 20.0, 5) == 5.0


def test_a_clock_that_steps_back_adds_no_tokens() -> None:
    assert bucket_tokens(2.0, 100.0, 99.0, 20.0, 5) == 2.0
    assert refill(2.0, -5.0, 20.0, 5) == 2.0


@given(
    tokens=st.floats(min_value=0.0, max_value=100.0),
    elapsed=st.floats(min_value=-10.0, max_value=1e6),
    rate=st.floats(min_value=1e-6, max_value=1e6),
    size=st.integers(min_value=1, max_value=100),
)
def test_refill_stays_between_what_was_there_and_the_bucket_size(
    tokens: float, elapsed: float, rate: float, size: int
) -> None:
    after = refill(min(tokens, float(size)), elapsed, rate, size)
    assert min(tokens, float(size)) <= after <= size


@given(
    starts=st.lists(st.floats(min_value=0.0, max_value=10.0), min_size=1, max_size=200),
    rate=st.floats(min_value=0.5, max_value=50.0),
    size=st.integers(min_value=1, max_value=10),
)
def test_a_bucket_admits_at_most_size_plus_rate_times_span(
    starts: list[float], rate: float, size: int
) -> None:
    """Spending tokens as claims at arbitrary times would: never more than the bound."""
    tokens: float | None = None
    at: float | None = None
    admitted: list[float] = []
    for now in sorted(starts):
        available = bucket_tokens(tokens, at, now, rate, size)
        take = allowance(1, 0, None, available)
        tokens, at = available - take, now
        admitted.extend([now] * take)
    if admitted:
        span = admitted[-1] - admitted[0]
        assert len(admitted) <= size + rate * span + 1e-6


def test_allowance_is_the_free_slots_within_the_limits() -> None:
    assert allowance(10, running=0, max_concurrent=None, tokens=None) == 10
    assert allowance(10, running=3, max_concurrent=5, tokens=None) == 2
    assert allowance(1, running=3, max_concurrent=5, tokens=None) == 1
    assert allowance(10, running=0, max_concurrent=None, tokens=3.7) == 3
    assert allowance(10, running=1, max_concurrent=3, tokens=4.0) == 2
    assert allowance(2, running=0, max_concurrent=5, tokens=4.0) == 2


def test_allowance_is_never_negative() -> None:
    assert allowance(10, running=7, max_concurrent=5, tokens=None) == 0
    assert allowance(10, running=0, max_concurrent=None, tokens=0.99) == 0
    assert allowance(0, running=0, max_concurrent=None, tokens=None) == 0


def test_allowance_counts_a_token_lost_to_float_rounding() -> None:
    # 0.1 s at 10/s is 1 token; float arithmetic may land a hair below it.
    tokens = bucket_tokens(0.0, 0.0, 0.1, 10.0, 5)
    assert allowance(10, 0, None, tokens) == 1
    assert allowance(10, 0, None, 1.0 - 1e-12) == 1


def test_throttled_for_is_zero_when_a_task_may_start() -> None:
    assert throttled_for(0, None, None, None) == 0.0
    assert throttled_for(1, 2, None, None) == 0.0
    assert throttled_for(0, None, 1.0, 10.0) == 0.0
    assert throttled_for(0, 3, 2.5, 10.0) == 0.0


def test_throttled_for_waits_for_the_next_token() -> None:
    assert throttled_for(0, None, 0.0, 20.0) == pytest.approx(0.05)
    assert throttled_for(0, None, 0.75, 2.0) == pytest.approx(0.125)
    assert throttled_for(0, None, 0.0, 0.5) == pytest.approx(2.0)


def test_throttled_for_polls_a_full_queue_and_takes_the_longer_wait() -> None:
    assert throttled_for(2, 2, None, None) == THROTTLE_POLL_SECONDS
    assert throttled_for(5, 2, None, None) == THROTTLE_POLL_SECONDS
    assert throttled_for(2, 2, 0.0, 1.0) == pytest.approx(1.0)
    assert throttled_for(2, 2, 0.99, 1.0) == THROTTLE_POLL_SECONDS
