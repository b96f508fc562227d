"""Invariant 4 in the store: a failed attempt is retried after its delay, or fails for good."""

from __future__ import annotations

import pytest

from conveyor.core.task import Failure, RetryPolicy, Status
from conveyor.store import Store
from tests.factories import attempt_error, claim_task, claimed, later, queued_and_due


def test_failed_attempt_with_a_delay_is_requeued_after_the_delay(store: Store) -> None:
    now = later()
    lease = claimed(store, now=now).lease
    error = attempt_error(1, "ValueError: bad row")

    assert store.fail([Failure(lease, error, retry_delay=30.0)], now=now) == [lease.task_id]

    task = store.get(lease.task_id)
    assert task is not None
    assert task.status is Status.SCHEDULED
    assert task.run_at.timestamp() == pytest.approx(now + 30.0, abs=1e-3)
    assert task.attempts == 1
    assert task.finished_at is None
    assert task.lease_expires_at is None
    [entry] = task.errors
    assert entry["attempt"] == 1
    assert entry["error"] == "ValueError: bad row"
    assert entry["traceback"] == error.traceback
    assert store.claim(["default"], 1, "worker-2", 30.0, now=now + 29) == []
    again = claim_task(store, task, now=now + 30.5)
    assert again.task.attempts == 2


def test_failed_attempt_without_a_delay_fails_for_good(store: Store) -> None:
    now = later()
    lease = claimed(store, now=now).lease

    assert store.fail([Failure(lease, attempt_error(1), retry_delay=None)], now=now) == [
        lease.task_id
    ]

    task = store.get(lease.task_id)
    assert task is not None
    assert task.status is Status.FAILED
    assert task.finished_at is not None
    assert task.finished_at.timestamp() == pytest.approx(now, abs=1e-3)
    assert len(task.errors) == 1
    assert store.claim(["default"], 1, "worker-2", 30.0, now=now + 3600) == []


def test_retry_with_zero_delay_is_claimable_at_once(store: Store) -> None:
    now = later()
    lease = claimed(store, now=now).lease

    assert store.fail([Failure(lease, attempt_error(1), retry_delay=0.0)], now=now) == [
        lease.task_id
    ]

    task = store.get(lease.task_id)
    assert queued_and_due(task, now)


def test_last_attempt_fails_even_with_a_delay(store: Store) -> None:
    now = later()
    first = claimed(store, retry=RetryPolicy(max_attempts=2), now=now)
    assert store.fail([Failure(first.lease, attempt_error(1), retry_delay=0.0)], now=now)
    second = claim_task(store, first.task, now=now)
    assert second.task.attempts == 2

    assert store.fail([Failure(second.lease, attempt_error(2), retry_delay=5.0)], now=now) == [
        second.lease.task_id
    ]

    task = store.get(first.task.id)
    assert task is not None
    assert task.status is Status.FAILED
    assert task.attempts == 2
    assert [e["attempt"] for e in task.errors] == [1, 2]
    assert store.claim(["default"], 1, "worker-2", 30.0, now=now + 3600) == []


def test_failed_task_keeps_its_full_error_history(store: Store) -> None:
    now = later()
    claim = claimed(store, retry=RetryPolicy(max_attempts=3), now=now)
    for attempt in (1, 2, 3):
        error = attempt_error(attempt, f"RuntimeError: try {attempt}")
        delay = 1.0 if attempt < 3 else None
        assert store.fail([Failure(claim.lease, error, retry_delay=delay)], now=now)
        if attempt < 3:
            now += 2
            claim = claim_task(store, claim.task, now=now)

    task = store.get(claim.task.id)
    assert task is not None
    assert task.status is Status.FAILED
    assert [(e["attempt"], e["error"]) for e in task.errors] == [
        (1, "RuntimeError: try 1"),
        (2, "RuntimeError: try 2"),
        (3, "RuntimeError: try 3"),
    ]
    assert all(e["traceback"].startswith("Traceback") for e in task.errors)
    assert all(e["worker_id"] == "worker-1" for e in task.errors)
