"""Release: a task given back unrun is queued at once, uncounted, in its old place."""

from __future__ import annotations

from conveyor.core.task import RetryPolicy, Status
from conveyor.store import Store
from tests.factories import claim_task, claimed, enqueued, later, new_task, queued_and_due


def test_released_task_is_queued_at_once(store: Store) -> None:
    now = later()
    lease = claimed(store, now=now).lease

    assert store.release([lease], now=now) == [lease.task_id]

    task = store.get(lease.task_id)
    assert queued_and_due(task, now)
    assert task is not None
    assert task.lease_expires_at is None
    [again] = store.claim(["default"], 1, "worker-2", 30.0, now=now)
    assert again.task.id == lease.task_id


def test_release_does_not_count_the_attempt(store: Store) -> None:
    now = later()
    lease = claimed(store, retry=RetryPolicy(max_attempts=1), now=now).lease

    assert store.release([lease], now=now) == [lease.task_id]

    task = store.get(lease.task_id)
    assert task is not None
    assert task.attempts == 0
    assert task.errors == []
    again = claim_task(store, task, now=now)
    assert again.task.attempts == 1
    assert again.task.status is Status.RUNNING


def test_released_task_keeps_its_fifo_position(store: Store) -> None:
    now = later()
    first = claimed(store, now=now)
    behind = [r.id for r in store.enqueue([new_task() for _ in range(3)])]

    assert store.release([first.lease], now=now + 1) == [first.task.id]

    order = [c.task.id for c in store.claim(["default"], 10, "worker-2", 30.0, now=now + 1)]
    assert order == [first.task.id, *behind]


def test_release_of_a_task_that_is_not_running_is_refused(store: Store) -> None:
    now = later()
    lease = claimed(store, now=now).lease
    assert store.release([lease], now=now) == [lease.task_id]
    queued = store.get(lease.task_id)

    assert store.release([lease], now=now) == []

    assert store.get(lease.task_id) == queued
    assert enqueued(store, queue="other").status is Status.QUEUED
