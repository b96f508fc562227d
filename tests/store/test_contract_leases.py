"""Invariant 3: nothing stuck. Heartbeats extend a lease; an expired lease is reaped."""

from __future__ import annotations

import time

import pytest

from conveyor.core.task import RetryPolicy, Status
from conveyor.store import Store
from conveyor.store.base import TaskFilter
from tests.factories import claim_task, claimed, enqueued, later, new_task, queued_and_due


def test_heartbeat_extends_the_lease(store: Store) -> None:
    now = later()
    lease = claimed(store, lease_seconds=30.0, now=now).lease

    assert store.heartbeat([lease], 30.0, now=now + 20) == [lease.task_id]

    task = store.get(lease.task_id)
    assert task is not None
    assert task.lease_expires_at is not None
    assert task.lease_expires_at.timestamp() == pytest.approx(now + 50, abs=1e-3)
    assert store.reap_expired(now=now + 40) == 0
    still = store.get(lease.task_id)
    assert still is not None
    assert still.status is Status.RUNNING


def test_lease_that_has_not_expired_is_not_reaped(store: Store) -> None:
    now = later()
    lease = claimed(store, lease_seconds=30.0, now=now).lease

    assert store.reap_expired(now=now + 29) == 0

    task = store.get(lease.task_id)
    assert task is not None
    assert task.status is Status.RUNNING
    assert task.errors == []


def test_expired_lease_is_requeued(store: Store) -> None:
    now = later()
    lease = claimed(store, worker_id="worker-9", lease_seconds=30.0, now=now).lease

    assert store.reap_expired(now=now + 31) == 1

    task = store.get(lease.task_id)
    assert task is not None
    assert queued_and_due(task, now + 31)
    assert task.attempts == 1
    assert task.lease_expires_at is None
    assert task.finished_at is None
    [entry] = task.errors
    assert entry["attempt"] == 1
    assert "lease" in str(entry["error"]).lower()
    assert "expire" in str(entry["error"]).lower()
    again = claim_task(store, task, now=now + 32)
    assert again.task.attempts == 2


def test_expired_lease_on_the_last_attempt_fails_the_task(store: Store) -> None:
    now = later()
    lease = claimed(store, retry=RetryPolicy(max_attempts=1), now=now).lease

    assert store.reap_expired(now=now + 31) == 1

    task = store.get(lease.task_id)
    assert task is not None
    assert task.status is Status.FAILED
    assert task.attempts == 1
    assert task.finished_at is not None
    assert task.lease_expires_at is None
    [entry] = task.errors
    assert "lease" in str(entry["error"]).lower()
    assert store.claim(["default"], 10, "worker-2", 30.0, now=now + 32) == []


def test_nothing_runs_past_its_lease_after_one_reap(store: Store) -> None:
    now = later()
    store.enqueue([new_task(retry=RetryPolicy(max_attempts=1 + i % 2)) for i in range(10)])
    short = store.claim(["default"], 6, "worker-1", 10.0, now=now)
    long = store.claim(["default"], 4, "worker-2", 100.0, now=now)
    assert len(short) + len(long) == 10

    assert store.reap_expired(now=now + 50) == 6

    running = store.list(TaskFilter(status=Status.RUNNING), limit=100).tasks
    assert sorted(t.id for t in running) == sorted(c.task.id for c in long)
    for task in running:
        assert task.lease_expires_at is not None
        assert task.lease_expires_at.timestamp() > now + 50
    reaped = [store.get(c.task.id) for c in short]
    assert all(queued_and_due(t, now + 50) or t.status is Status.FAILED for t in reaped if t)


def test_reap_is_bounded_by_its_limit(store: Store) -> None:
    now = later()
    store.enqueue([new_task() for _ in range(5)])
    store.claim(["default"], 5, "worker-1", 10.0, now=now)

    assert store.reap_expired(now=now + 11, limit=2) == 2
    assert store.reap_expired(now=now + 11, limit=2) == 2
    assert store.reap_expired(now=now + 11, limit=2) == 1
    assert store.reap_expired(now=now + 11, limit=2) == 0


def test_queued_tasks_are_not_touched_by_the_reaper(store: Store) -> None:
    task = enqueued(store)

    assert store.reap_expired(now=time.time() + 10_000) == 0

    assert store.get(task.id) == task
