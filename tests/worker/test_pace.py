"""Pace: how many tasks a worker claims beyond its free slots, from its recent start rate."""

from __future__ import annotations

import time

from conveyor.worker.runtime import AHEAD_SECONDS, Pace


def pace_since(seconds_ago: float, started: int) -> Pace:
    pace = Pace(_since=time.monotonic() - seconds_ago)
    pace.started = started
    return pace


def test_claims_nothing_ahead_before_it_has_a_rate() -> None:
    assert pace_since(0.0, 0).ahead(1000) == 0


def test_a_burst_of_starts_sets_the_rate_before_the_window_ends() -> None:
    pace = pace_since(0.010, 100)  # 100 starts in 10 ms: a backlog of short tasks
    ahead = pace.ahead(1000)
    assert pace.rate >= 100 / 0.011  # the clock moved on a little since
    assert ahead >= int(100 / 0.011 * AHEAD_SECONDS) - 1


def test_few_starts_wait_for_the_whole_window() -> None:
    pace = pace_since(0.010, 10)  # slow tasks: not enough starts to judge by
    assert pace.ahead(1000) == 0
    assert pace.rate == 0.0


def test_long_tasks_claim_nothing_ahead() -> None:
    pace = pace_since(1.0, 2)  # two starts in a second
    assert pace.ahead(1000) == 0
    assert 1.5 < pace.rate < 2.5


def test_never_more_than_the_limit() -> None:
    assert pace_since(0.010, 10_000).ahead(300) == 300
