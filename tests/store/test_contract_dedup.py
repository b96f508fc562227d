"""Invariant 6: one idempotency key per queue makes one task, however many enqueue it."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from conveyor.core.task import Completion, Status
from conveyor.store import Store, open_store
from conveyor.store.base import TaskFilter
from tests.factories import claimed, later, new_task


def count(store: Store) -> int:
    return len(store.list(TaskFilter(), limit=1000).tasks)


def test_same_key_in_the_same_queue_returns_the_first_task(store: Store) -> None:
    [first] = store.enqueue([new_task(args=[1], idempotency_key="order-1")])

    [second] = store.enqueue([new_task(name="other", args=[2], idempotency_key="order-1")])

    assert first.created
    assert not second.created
    assert second.id == first.id
    assert second.created_at == first.created_at
    held = store.get(second.id)
    assert held is not None and held.args == [1] and held.name == "job"
    assert count(store) == 1


def test_same_key_in_another_queue_makes_a_new_task(store: Store) -> None:
    [first] = store.enqueue([new_task(queue="a", idempotency_key="order-1")])

    [second] = store.enqueue([new_task(queue="b", idempotency_key="order-1")])

    assert second.created
    assert second.id != first.id
    assert count(store) == 2


def test_tasks_without_a_key_are_never_deduplicated(store: Store) -> None:
    results = store.enqueue([new_task(), new_task()])

    assert [r.created for r in results] == [True, True]
    assert count(store) == 2


def test_same_key_twice_in_one_batch_makes_one_task(store: Store) -> None:
    results = store.enqueue(
        [
            new_task(args=[1], idempotency_key="k"),
            new_task(args=[9]),
            new_task(args=[2], idempotency_key="k"),
        ]
    )

    assert [r.created for r in results] == [True, True, False]
    assert results[2].id == results[0].id
    held = store.get(results[2].id)
    assert held is not None and held.args == [1]
    assert count(store) == 2


def test_key_still_deduplicates_after_the_first_task_finished(store: Store) -> None:
    now = later()
    lease = claimed(store, idempotency_key="once", now=now).lease
    assert store.complete([Completion(lease, "done")], now=now) == [lease.task_id]

    [again] = store.enqueue([new_task(idempotency_key="once")])

    assert not again.created
    assert again.id == lease.task_id
    assert again.status is Status.COMPLETED
    held = store.get(again.id)
    assert held is not None and held.result == "done"


def test_key_is_free_again_once_the_first_task_is_pruned(store: Store) -> None:
    now = later()
    lease = claimed(store, idempotency_key="once", now=now).lease
    assert store.complete([Completion(lease, "done")], now=now) == [lease.task_id]
    assert store.prune(completed_seconds=60, failed_seconds=60, now=now + 61) == 1

    [again] = store.enqueue([new_task(idempotency_key="once")])

    assert again.created
    assert again.id != lease.task_id


def test_fifty_threads_enqueueing_one_key_make_one_task(store: Store) -> None:
    threads = 50
    start = threading.Barrier(threads)

    def enqueue(i: int) -> str:
        start.wait(timeout=10)
        [result] = store.enqueue([new_task(args=[i], idempotency_key="same")])
        return result.id

    with ThreadPoolExecutor(threads) as pool:
        ids = list(pool.map(enqueue, range(threads)))

    assert count(store) == 1
    assert set(ids) == {store.list(TaskFilter()).tasks[0].id}


def enqueue_in_process(url: str, i: int, start: Barrier, results: Queue[str]) -> None:
    store = open_store(url, migrate=False)
    try:
        start.wait(timeout=30)
        [result] = store.enqueue([new_task(args=[i], idempotency_key="same")])
        results.put(result.id)
    finally:
        store.close()


def test_processes_enqueueing_one_key_make_one_task(store: Store, store_url: str) -> None:
    processes = 4
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(processes)
    results: Queue[str] = spawn.Queue()
    children = [
        spawn.Process(target=enqueue_in_process, args=(store_url, i, start, results))
        for i in range(processes)
    ]
    for child in children:
        child.start()
    ids = [results.get(timeout=30) for _ in children]
    for child in children:
        child.join(timeout=30)

    assert [child.exitcode for child in children] == [0] * processes
    assert count(store) == 1
    assert set(ids) == {store.list(TaskFilter()).tasks[0].id}
