"""Totals for /metrics only grow: pruning, purging and replaying tasks never lowers them;
processing times cover the tasks that finished within the window."""

from __future__ import annotations

import pytest

from conveyor.core.tallies import QueueTotals
from conveyor.core.task import Completion, Failure
from conveyor.store import Store
from tests.factories import attempt_error, claimed, completed, enqueued, failed, later


def totals(store: Store) -> dict[str, QueueTotals]:
    return {t.queue: t for t in store.totals()}


def retried_once(store: Store, now: float, queue: str = "default") -> None:
    """A task whose first attempt failed and was retried; still queued."""
    lease = claimed(store, now=now, queue=queue).lease
    assert store.fail([Failure(lease, attempt_error(1), retry_delay=60.0)], now=now)


def test_totals_count_tasks_by_outcome_per_queue(store: Store) -> None:
    now = later()
    completed(store, now=now)
    completed(store, now=now)
    failed(store, now=now)
    retried_once(store, now)
    enqueued(store)
    enqueued(store, queue="emails")

    found = totals(store)

    assert found["default"] == QueueTotals("default", 5, 2, 1, 2)
    assert found["default"].retried == 1
    assert found["emails"] == QueueTotals("emails", 1, 0, 0, 0)


def test_pruning_and_purging_keep_the_totals(store: Store) -> None:
    now = later()
    completed(store, now=now)
    failed(store, now=now)
    retried_once(store, now)
    before = totals(store)["default"]

    assert store.prune(completed_seconds=1, failed_seconds=1000, now=now + 10) == 1
    assert totals(store)["default"] == before
    assert store.purge(queue="default") == 1
    assert totals(store)["default"] == before
    assert store.prune(completed_seconds=0, failed_seconds=0, now=now + 20) == 0


def test_a_replayed_dead_letter_that_fails_again_counts_twice(store: Store) -> None:
    now = later()
    dead = failed(store, now=now)

    assert store.replay([dead.id], now=now + 1) == [dead.id]
    assert totals(store)["default"] == QueueTotals("default", 1, 0, 1, 1)

    [again] = store.claim(["default"], 1, "w", 30.0, now=now + 2)
    store.fail([Failure(again.lease, attempt_error(1), retry_delay=None)], now=now + 2)
    assert totals(store)["default"] == QueueTotals("default", 1, 0, 2, 2)


def test_processing_times_are_bucketed_over_the_window(store: Store) -> None:
    now = later()
    for seconds in (0.2, 0.7, 3.0):
        lease = claimed(store, now=now).lease
        store.complete([Completion(lease, None)], now=now + seconds)
    lease = claimed(store, now=now, queue="emails").lease
    store.fail([Failure(lease, attempt_error(1), retry_delay=None)], now=now + 0.1)

    [default, emails] = store.processing_times(60.0, [0.5, 1.0, 5.0], now=now + 10)

    assert (default.queue, default.status) == ("default", "completed")
    assert default.buckets == ((0.5, 1), (1.0, 2), (5.0, 3))
    assert default.count == 3
    assert default.total_seconds == pytest.approx(3.9, abs=1e-3)
    assert (emails.queue, emails.status, emails.count) == ("emails", "failed", 1)
    assert store.processing_times(5.0, [1.0], now=now + 10) == []
