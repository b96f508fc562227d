"""Invariant 5 (order) and the claim itself: due tasks only, each at most once, fenced."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from conveyor.core.task import Priority, Status
from conveyor.store import Store, open_store
from conveyor.store.base import TaskFilter
from tests.factories import LEASE_SECONDS, WORKER, claim_task, enqueued, later, new_task


def claim_one_by_one(store: Store, queues: list[str], now: float | None = None) -> list[str]:
    order: list[str] = []
    while claimed := store.claim(queues, 1, WORKER, LEASE_SECONDS, now=now):
        order.extend(c.task.id for c in claimed)
    return order


def test_higher_priority_is_claimed_first(store: Store) -> None:
    low = enqueued(store, priority=Priority.LOW)
    normal = enqueued(store, priority=Priority.NORMAL)
    high = enqueued(store, priority=Priority.HIGH)

    assert claim_one_by_one(store, ["default"]) == [high.id, normal.id, low.id]


def test_batch_claim_returns_priority_then_fifo_order(store: Store) -> None:
    results = store.enqueue(
        [new_task(priority=p) for p in [Priority.LOW, Priority.HIGH, Priority.NORMAL] * 3]
    )
    tasks = [store.get(r.id) for r in results]
    ids = {p: [t.id for t in tasks if t is not None and t.priority is p] for p in Priority}

    claimed = store.claim(["default"], 9, WORKER, LEASE_SECONDS)

    assert [c.task.id for c in claimed] == ids[Priority.HIGH] + ids[Priority.NORMAL] + ids[
        Priority.LOW
    ]


def test_tasks_of_one_priority_are_claimed_in_enqueue_order(store: Store) -> None:
    first = [enqueued(store, name=f"job-{i}").id for i in range(5)]
    second = [r.id for r in store.enqueue([new_task(name=f"batch-{i}") for i in range(5)])]

    assert claim_one_by_one(store, ["default"]) == first + second


def test_claim_respects_the_limit(store: Store) -> None:
    ids = [r.id for r in store.enqueue([new_task() for _ in range(5)])]

    claimed = store.claim(["default"], 2, WORKER, LEASE_SECONDS)

    assert [c.task.id for c in claimed] == ids[:2]
    queued = store.list(TaskFilter(status=Status.QUEUED)).tasks
    assert sorted(t.id for t in queued) == sorted(ids[2:])


def test_claim_takes_only_the_requested_queues(store: Store) -> None:
    a = enqueued(store, queue="a")
    b = enqueued(store, queue="b")
    c = enqueued(store, queue="c")

    claimed = store.claim(["a", "c"], 10, WORKER, LEASE_SECONDS)

    assert sorted(x.task.id for x in claimed) == sorted([a.id, c.id])
    other = store.get(b.id)
    assert other is not None
    assert other.status is Status.QUEUED
    assert store.claim(["nothing-here"], 10, WORKER, LEASE_SECONDS) == []


def test_delayed_task_is_scheduled_and_not_claimed_before_due(store: Store) -> None:
    task = enqueued(store, delay=60.0)
    now = time.time()

    assert task.status is Status.SCHEDULED
    assert store.claim(["default"], 10, WORKER, LEASE_SECONDS, now=now) == []
    assert store.claim(["default"], 10, WORKER, LEASE_SECONDS, now=now + 55) == []
    stored = store.get(task.id)
    assert stored is not None
    assert stored.status is Status.SCHEDULED
    assert stored.attempts == 0

    [claimed] = store.claim(["default"], 10, WORKER, LEASE_SECONDS, now=now + 61)
    assert claimed.task.id == task.id


def test_task_with_run_at_is_claimable_exactly_when_due(store: Store) -> None:
    due = float(int(time.time()) + 100)
    task = enqueued(store, run_at=datetime.fromtimestamp(due, tz=UTC))

    assert store.claim(["default"], 10, WORKER, LEASE_SECONDS, now=due - 0.5) == []
    [claimed] = store.claim(["default"], 10, WORKER, LEASE_SECONDS, now=due)
    assert claimed.task.id == task.id


def test_a_due_delayed_task_waits_its_turn_behind_earlier_tasks(store: Store) -> None:
    delayed = enqueued(store, delay=60.0)
    plain = enqueued(store)
    now = time.time() + 61

    assert claim_one_by_one(store, ["default"], now=now) == [delayed.id, plain.id]


def test_claim_sets_attempts_started_at_worker_and_lease(store: Store) -> None:
    task = enqueued(store)
    now = time.time()

    [claimed] = store.claim(["default"], 1, "worker-7", 45.0, now=now)

    for seen in (claimed.task, store.get(task.id)):
        assert seen is not None
        assert seen.status is Status.RUNNING
        assert seen.attempts == 1
        assert seen.worker_id == "worker-7"
        assert seen.started_at is not None
        assert seen.started_at.timestamp() == pytest.approx(now, abs=1e-3)
        assert seen.lease_expires_at is not None
        assert seen.lease_expires_at.timestamp() == pytest.approx(now + 45.0, abs=1e-3)
    assert claimed.lease.task_id == task.id


def test_a_running_task_is_not_claimed_again(store: Store) -> None:
    ids = [r.id for r in store.enqueue([new_task() for _ in range(4)])]

    first = store.claim(["default"], 2, WORKER, LEASE_SECONDS)
    second = store.claim(["default"], 10, "worker-2", LEASE_SECONDS)

    assert [c.task.id for c in first] == ids[:2]
    assert [c.task.id for c in second] == ids[2:]
    assert store.claim(["default"], 10, "worker-3", LEASE_SECONDS) == []


def test_concurrent_claims_never_return_the_same_task(store: Store, store_url: str) -> None:
    ids = {r.id for r in store.enqueue([new_task() for _ in range(40)])}
    workers = 8
    start = threading.Barrier(workers)

    def drain(worker: int) -> list[str]:
        own = open_store(store_url)
        try:
            start.wait(timeout=10)
            got: list[str] = []
            while batch := own.claim(["default"], 3, f"worker-{worker}", LEASE_SECONDS):
                got.extend(c.task.id for c in batch)
            return got
        finally:
            own.close()

    with ThreadPoolExecutor(workers) as pool:
        claimed = [task_id for got in pool.map(drain, range(workers)) for task_id in got]

    assert len(claimed) == len(set(claimed)), "a task was handed to two workers"
    assert set(claimed) == ids


def test_each_claim_gets_a_new_larger_lease_token(store: Store) -> None:
    task = enqueued(store)
    now = later()

    first = claim_task(store, task, now=now).lease
    assert store.release([first], now=now) == [task.id]
    second = claim_task(store, task, now=now).lease
    assert store.reap_expired(now=now + LEASE_SECONDS + 1) == 1
    third = claim_task(store, task, now=now + LEASE_SECONDS + 2).lease

    assert first.token < second.token < third.token
    assert {first.task_id, second.task_id, third.task_id} == {task.id}
