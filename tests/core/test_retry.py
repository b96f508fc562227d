"""Invariant 4: retry delays follow the design's formula, jittered down by at most a quarter."""

from __future__ import annotations

import doctest
import random

from hypothesis import assume, given
from hypothesis import strategies as st

from conveyor.core import retry
from conveyor.core.retry import base_delay, retry_delay
from conveyor.core.task import RetryPolicy

policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(min_value=1, max_value=50),
    min_backoff=st.floats(min_value=0.001, max_value=1000.0),
    max_backoff=st.floats(min_value=0.001, max_value=1e6),
    max_doublings=st.integers(min_value=0, max_value=40),
)


class FixedRandom(random.Random):
    """A random source that always draws the same number."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def formula(policy: RetryPolicy, attempt: int) -> float:
    return min(policy.max_backoff, policy.min_backoff * 2 ** min(attempt - 1, policy.max_doublings))


@given(policy=policies, attempt=st.integers(min_value=1, max_value=200))
def test_base_delay_follows_the_design_formula(policy: RetryPolicy, attempt: int) -> None:
    assert base_delay(policy, attempt) == formula(policy, attempt)


@given(policy=policies, data=st.data(), seed=st.integers())
def test_retry_delay_is_the_formula_jittered_within_three_quarters_and_one(
    policy: RetryPolicy, data: st.DataObject, seed: int
) -> None:
    assume(policy.max_attempts >= 2)
    attempt = data.draw(st.integers(min_value=1, max_value=policy.max_attempts - 1))

    delay = retry_delay(policy, attempt, random.Random(seed))

    assert delay is not None
    expected = formula(policy, attempt)
    assert 0.75 * expected <= delay <= expected


@given(policy=policies, extra=st.integers(min_value=0, max_value=100))
def test_no_retry_once_max_attempts_are_used(policy: RetryPolicy, extra: int) -> None:
    assert retry_delay(policy, policy.max_attempts + extra) is None


@given(policy=policies, attempt=st.integers(min_value=1, max_value=199))
def test_base_delay_never_shrinks_from_one_attempt_to_the_next(
    policy: RetryPolicy, attempt: int
) -> None:
    assert base_delay(policy, attempt) <= base_delay(policy, attempt + 1)


def test_jitter_reaches_both_ends_of_its_range() -> None:
    policy = RetryPolicy(max_attempts=10, min_backoff=4.0, max_backoff=100.0, max_doublings=5)

    assert retry_delay(policy, 3, FixedRandom(0.0)) == 16.0
    assert retry_delay(policy, 3, FixedRandom(0.999999)) == 16.0 * (1 - 0.25 * 0.999999)


def test_worked_examples() -> None:
    policy = RetryPolicy(max_attempts=10, min_backoff=1.0, max_backoff=60.0, max_doublings=3)

    assert [base_delay(policy, n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert base_delay(RetryPolicy(min_backoff=10.0, max_backoff=30.0), 4) == 30.0
    assert retry_delay(RetryPolicy(max_attempts=3), 2) is not None
    assert retry_delay(RetryPolicy(max_attempts=3), 3) is None


def test_doctests_of_the_retry_module_pass() -> None:
    result = doctest.testmod(retry)

    assert result.attempted > 0
    assert result.failed == 0
