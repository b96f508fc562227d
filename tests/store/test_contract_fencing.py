"""Invariant 2: one runner at a time. A worker that lost its lease cannot write the outcome.

Each test takes the lease away the way it happens in production: the lease expires, the
reaper requeues the task, and another worker claims it with a new token.
"""

from __future__ import annotations

import pytest

from conveyor.core.task import Completion, Failure, Lease, Status
from conveyor.store import Store
from tests.factories import LEASE_SECONDS, attempt_error, claim_task, claimed, later


@pytest.fixture
def leases(store: Store) -> tuple[Lease, Lease, float]:
    """(stale lease, current lease, now): the first worker's lease expired and was reaped."""
    now = later()
    stale = claimed(store, now=now).lease
    assert store.reap_expired(now=now + LEASE_SECONDS + 1) == 1
    task = store.get(stale.task_id)
    assert task is not None
    reclaimed_at = now + LEASE_SECONDS + 2
    current = claim_task(store, task, worker_id="worker-2", now=reclaimed_at).lease
    return stale, current, reclaimed_at


def test_stale_complete_is_refused(store: Store, leases: tuple[Lease, Lease, float]) -> None:
    stale, current, now = leases
    before = store.get(stale.task_id)

    assert store.complete([Completion(stale, "late result")], now=now) == []

    assert store.get(stale.task_id) == before
    assert store.complete([Completion(current, "fresh result")], now=now) == [current.task_id]
    after = store.get(current.task_id)
    assert after is not None
    assert after.status is Status.COMPLETED
    assert after.result == "fresh result"


def test_stale_fail_is_refused(store: Store, leases: tuple[Lease, Lease, float]) -> None:
    stale, _, now = leases
    before = store.get(stale.task_id)

    assert store.fail([Failure(stale, attempt_error(1), retry_delay=None)], now=now) == []
    assert store.fail([Failure(stale, attempt_error(1), retry_delay=5.0)], now=now) == []

    assert store.get(stale.task_id) == before


def test_stale_heartbeat_is_refused(store: Store, leases: tuple[Lease, Lease, float]) -> None:
    stale, current, now = leases
    before = store.get(stale.task_id)

    assert store.heartbeat([stale], 3600.0, now=now) == []

    assert store.get(stale.task_id) == before
    assert store.heartbeat([current], LEASE_SECONDS, now=now) == [current.task_id]


def test_stale_release_is_refused(store: Store, leases: tuple[Lease, Lease, float]) -> None:
    stale, _, now = leases
    before = store.get(stale.task_id)

    assert store.release([stale], now=now) == []

    after = store.get(stale.task_id)
    assert after == before
    assert after is not None
    assert after.status is Status.RUNNING
    assert after.worker_id == "worker-2"


def test_a_batch_accepts_only_its_current_leases(
    store: Store, leases: tuple[Lease, Lease, float]
) -> None:
    stale, current, now = leases
    other = claimed(store, queue="other", now=now).lease
    made_up = Lease(other.task_id, other.token + 100)

    accepted = store.complete(
        [Completion(stale, "a"), Completion(current, "b"), Completion(made_up, "c")], now=now
    )

    assert accepted == [current.task_id]
    still_running = store.get(other.task_id)
    assert still_running is not None
    assert still_running.status is Status.RUNNING


def test_second_complete_is_refused(store: Store) -> None:
    now = later()
    lease = claimed(store, now=now).lease
    assert store.complete([Completion(lease, {"answer": 42})], now=now) == [lease.task_id]
    done = store.get(lease.task_id)

    assert store.complete([Completion(lease, {"answer": 0})], now=now + 1) == []
    assert store.fail([Failure(lease, attempt_error(1), retry_delay=1.0)], now=now + 1) == []
    assert store.heartbeat([lease], LEASE_SECONDS, now=now + 1) == []
    assert store.release([lease], now=now + 1) == []

    assert store.get(lease.task_id) == done


def test_complete_records_the_result_and_ends_the_lease(store: Store) -> None:
    now = later()
    lease = claimed(store, now=now).lease

    assert store.complete([Completion(lease, {"rows": [1, 2], "ok": True})], now=now + 5) == [
        lease.task_id
    ]

    task = store.get(lease.task_id)
    assert task is not None
    assert task.status is Status.COMPLETED
    assert task.result == {"rows": [1, 2], "ok": True}
    assert task.attempts == 1
    assert task.finished_at is not None
    assert task.finished_at.timestamp() == pytest.approx(now + 5, abs=1e-3)
    assert task.lease_expires_at is None
