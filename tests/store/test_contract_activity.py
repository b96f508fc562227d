"""Activity: finished tasks per queue and time bucket, with processing-time percentiles."""

from __future__ import annotations

import pytest

from conveyor.core.task import Completion, Status
from conveyor.errors import ConfigurationError
from conveyor.store import Store
from tests.factories import claimed, failed, in_state, later


def finish_in(store: Store, queue: str, started: float, seconds: float) -> None:
    """Complete a task of `queue` that was claimed at `started` and ran `seconds`."""
    lease = claimed(store, queue=queue, now=started).lease
    assert store.complete([Completion(lease, None)], now=started + seconds) == [lease.task_id]


def test_finished_tasks_are_counted_in_their_bucket(store: Store) -> None:
    start = later()
    finish_in(store, "a", start, 1.0)  # finished at start+1: bucket 0 of [start, start+300)
    finish_in(store, "a", start + 100, 1.0)  # start+101: bucket 1
    finish_in(store, "a", start + 100, 2.0)  # start+102: bucket 1
    failed(store, queue="a", now=start + 250)  # bucket 2
    finish_in(store, "b", start + 290, 5.0)  # start+295: bucket 2

    activity = store.activity(window_seconds=300, bucket_seconds=100, now=start + 300)

    by_queue = {a.queue: a for a in activity}
    assert [a.queue for a in activity] == ["a", "b"]
    assert by_queue["a"].completed == [1, 2, 0]
    assert by_queue["a"].failed == [0, 0, 1]
    assert by_queue["b"].completed == [0, 0, 1]
    assert by_queue["b"].failed == [0, 0, 0]


def test_tasks_outside_the_window_and_unfinished_ones_are_left_out(store: Store) -> None:
    start = later()
    finish_in(store, "old", start, 1.0)
    in_state(store, Status.RUNNING, queue="busy")
    finish_in(store, "new", start + 5000, 1.0)

    activity = store.activity(window_seconds=3600, bucket_seconds=60, now=start + 5001 + 60)

    assert [a.queue for a in activity] == ["new"]
    assert len(activity[0].completed) == 60
    assert sum(activity[0].completed) == 1


def test_percentiles_are_nearest_rank_over_completed_tasks(store: Store) -> None:
    start = later()
    for seconds in range(1, 21):  # 1 s .. 20 s
        finish_in(store, "a", start, float(seconds))
    failed(store, queue="a", now=start + 30)  # failures do not count toward processing time

    [activity] = store.activity(window_seconds=3600, bucket_seconds=300, now=start + 60)

    assert activity.p50_seconds == pytest.approx(10.0, abs=1e-3)
    assert activity.p95_seconds == pytest.approx(19.0, abs=1e-3)


def test_a_queue_with_only_failures_has_no_percentiles(store: Store) -> None:
    start = later()
    failed(store, queue="a", now=start)

    [activity] = store.activity(window_seconds=60, bucket_seconds=60, now=start + 1)

    assert activity.failed == [1]
    assert activity.p50_seconds is None
    assert activity.p95_seconds is None


def test_a_bucket_that_is_not_positive_is_refused(store: Store) -> None:
    with pytest.raises(ConfigurationError, match="positive window and bucket"):
        store.activity(window_seconds=3600, bucket_seconds=0)
