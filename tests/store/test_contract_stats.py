"""Stats: counts by state per queue, and how long the oldest due task has waited."""

from __future__ import annotations

import pytest

from conveyor.core.task import Status
from conveyor.store import Store
from conveyor.store.base import QueueStats
from tests.factories import enqueued, in_state, later


def by_queue(stats: list[QueueStats]) -> dict[str, QueueStats]:
    assert len({s.queue for s in stats}) == len(stats), f"a queue appears twice in {stats}"
    return {s.queue: s for s in stats}


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {state: n for state, n in counts.items() if n}


def test_stats_count_tasks_by_state_per_queue(store: Store) -> None:
    for status in (Status.RUNNING, Status.COMPLETED, Status.FAILED, Status.CANCELLED):
        in_state(store, status, queue="a")
    in_state(store, Status.QUEUED, queue="a")
    in_state(store, Status.QUEUED, queue="a")
    in_state(store, Status.SCHEDULED, queue="a")
    in_state(store, Status.QUEUED, queue="b")

    stats = by_queue(store.stats(now=later()))

    assert set(stats) == {"a", "b"}
    assert nonzero(stats["a"].counts) == {
        "queued": 2,
        "scheduled": 1,
        "running": 1,
        "completed": 1,
        "failed": 1,
        "cancelled": 1,
    }
    assert nonzero(stats["b"].counts) == {"queued": 1}


def test_oldest_queued_age_is_measured_from_the_oldest_due_task(store: Store) -> None:
    oldest = enqueued(store, queue="a")
    enqueued(store, queue="a")
    now = oldest.run_at.timestamp() + 100

    stats = by_queue(store.stats(now=now))

    assert stats["a"].oldest_queued_age == pytest.approx(100.0, abs=1e-3)


def test_oldest_queued_age_ignores_tasks_that_are_not_due(store: Store) -> None:
    enqueued(store, queue="later", delay=3600.0)
    for status in (Status.RUNNING, Status.COMPLETED, Status.FAILED):
        in_state(store, status, queue="busy")

    stats = by_queue(store.stats(now=later()))

    assert stats["later"].oldest_queued_age is None
    assert stats["busy"].oldest_queued_age is None


def test_stats_of_an_empty_store_list_no_queue_with_work(store: Store) -> None:
    stats = store.stats()

    assert all(not nonzero(s.counts) for s in stats)
    assert all(s.oldest_queued_age is None for s in stats)
