"""Enqueue: a batch is stored atomically and in order; bad input loses nothing stored."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from conveyor.core.payload import MAX_DEPTH
from conveyor.core.queue import QueueSettings
from conveyor.core.task import Priority, RetryPolicy, Status
from conveyor.errors import PayloadError
from conveyor.store import Store
from conveyor.store.base import TaskFilter
from tests.factories import enqueued, new_task


def all_tasks(store: Store) -> list[str]:
    return [t.id for t in store.list(TaskFilter(), limit=1000).tasks]


def test_enqueue_returns_new_queued_tasks_in_order(store: Store) -> None:
    before = time.time()
    results = store.enqueue([new_task(name=f"job-{i}") for i in range(5)])

    assert [r.created for r in results] == [True] * 5
    assert len({r.id for r in results}) == 5
    assert all(r.status is Status.QUEUED for r in results)
    tasks = [store.get(r.id) for r in results]
    assert [t.name for t in tasks if t is not None] == [f"job-{i}" for i in range(5)]
    for r, t in zip(results, tasks, strict=True):
        assert t is not None
        assert t.status is Status.QUEUED
        assert t.created_at == r.created_at
        assert t.attempts == 0
        assert t.priority is Priority.NORMAL
        assert t.retry == RetryPolicy()
        assert t.started_at is None
        assert t.finished_at is None
        assert t.worker_id is None
        assert t.lease_expires_at is None
        assert t.run_at.timestamp() == pytest.approx(before, abs=2.0)


def test_enqueue_many_is_atomic_when_one_task_is_not_json(store: Store) -> None:
    batch = [
        new_task(name="good-1"),
        new_task(name="bad", kwargs={"ratio": float("nan")}),
        new_task(name="good-2"),
    ]

    with pytest.raises((PayloadError, ValueError)):
        store.enqueue(batch)

    assert all_tasks(store) == []


def test_a_refused_batch_loses_nothing_already_stored(store: Store) -> None:
    kept = enqueued(store, name="kept")

    with pytest.raises((PayloadError, ValueError)):
        store.enqueue([new_task(name="good"), new_task(name="bad", args=[float("inf")])])

    assert all_tasks(store) == [kept.id]
    assert store.get(kept.id) == kept
    [after] = store.enqueue([new_task(name="after")])
    assert after.created
    assert all_tasks(store) == [after.id, kept.id]


def test_empty_batch_stores_nothing(store: Store) -> None:
    assert store.enqueue([]) == []
    assert all_tasks(store) == []


def test_get_unknown_task_returns_none(store: Store) -> None:
    assert store.get("00000000-0000-4000-8000-000000000000") is None


BULK = 120
"""Large enough for every backend's bulk path (PostgreSQL's COPY, SQLite's multi-row INSERT)."""


@pytest.mark.parametrize("size", [1, BULK], ids=["one", "bulk"])
def test_tasks_take_their_queues_defaults_and_their_own_policy_wins_whole(
    store: Store, size: int
) -> None:
    store.set_queue(QueueSettings("tuned", priority=Priority.LOW, max_attempts=9))
    own = RetryPolicy(max_attempts=2, min_backoff=5.0, max_backoff=50.0, max_doublings=3)
    batch = [new_task(queue="tuned"), new_task(queue="default"), new_task(queue="tuned", retry=own)]
    batch += [new_task(queue="tuned", priority=Priority.HIGH)] * (size - 1)

    tasks = [store.get(r.id) for r in store.enqueue(batch)]

    tuned, plain, mine = tasks[:3]
    assert tuned is not None and plain is not None and mine is not None
    assert (tuned.priority, tuned.retry) == (Priority.LOW, replace(RetryPolicy(), max_attempts=9))
    assert (plain.priority, plain.retry) == (Priority.NORMAL, RetryPolicy())
    assert (mine.priority, mine.retry) == (Priority.LOW, own)
    assert all(t is not None and t.priority is Priority.HIGH for t in tasks[3:])


def test_tasks_enqueued_into_one_queue_alone_take_its_defaults(store: Store) -> None:
    store.set_queue(QueueSettings("tuned", priority=Priority.LOW, max_attempts=9))

    alone = store.get(store.enqueue([new_task(queue="tuned")])[0].id)
    elsewhere = store.get(store.enqueue([new_task(queue="other")])[0].id)

    assert alone is not None and elsewhere is not None
    assert (alone.priority, alone.retry) == (Priority.LOW, replace(RetryPolicy(), max_attempts=9))
    assert (elsewhere.priority, elsewhere.retry) == (Priority.NORMAL, RetryPolicy())


@pytest.mark.parametrize("size", [1, BULK], ids=["one", "bulk"])
def test_receipts_show_status_and_creation_time_as_stored(store: Store, size: int) -> None:
    run_at = datetime(2031, 5, 17, 8, 30, tzinfo=UTC)
    batch = [new_task(), new_task(delay=600.0), new_task(run_at=run_at), new_task(parents=(0,))]
    batch += [new_task(args=[i]) for i in range(size - 1)]

    receipts = store.enqueue(batch)

    assert [r.status for r in receipts[:4]] == [
        Status.QUEUED, Status.SCHEDULED, Status.SCHEDULED, Status.WAITING,
    ]  # fmt: skip
    for receipt in receipts:
        task = store.get(receipt.id)
        assert task is not None
        assert (task.status, task.created_at) == (receipt.status, receipt.created_at)
    assert len({r.id for r in receipts}) == len(batch)


@pytest.mark.parametrize("size", [1, BULK], ids=["one", "bulk"])
def test_the_store_names_a_bad_argument_and_stores_nothing(store: Store, size: int) -> None:
    deep: list[object] = []
    for _ in range(MAX_DEPTH):
        deep = [deep]
    good = [new_task(args=[i]) for i in range(size - 1)]

    with pytest.raises(PayloadError, match=r"argument #1 of task 'deep' nests .* more than 64"):
        store.enqueue([*good, new_task(name="deep", args=[1, deep])])
    with pytest.raises(PayloadError, match=r"argument 'when' of task 'late' is not JSON"):
        store.enqueue([*good, new_task(name="late", kwargs={"when": datetime.now(UTC)})])

    assert all_tasks(store) == []


def test_concurrent_enqueues_each_store_their_own_tasks_and_a_bad_one_fails_alone(
    store: Store,
) -> None:
    """Threads enqueueing at once may share a transaction (`store.combine`): each still
    gets the receipts of its own tasks, and a refused task fails only its own enqueue."""
    threads, rounds = 8, 25
    start = threading.Barrier(threads)
    outcomes: dict[int, list[tuple[list[str], list[str]] | BaseException]] = {}

    def produce(n: int) -> None:
        mine: list[tuple[list[str], list[str]] | BaseException] = outcomes.setdefault(n, [])
        start.wait()
        for r in range(rounds):
            batch = [new_task(name=f"t{n}-{r}-{i}", args=[n, r, i]) for i in range(1 + r % 3)]
            if n == 0 and r == rounds // 2:
                batch.append(new_task(name="late", kwargs={"when": datetime.now(UTC)}))
            try:
                receipts = store.enqueue(batch)
                mine.append(([t.name for t in batch], [rec.id for rec in receipts]))
            except PayloadError as exc:
                mine.append(exc)

    workers = [threading.Thread(target=produce, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert not worker.is_alive()

    refused = [o for mine in outcomes.values() for o in mine if isinstance(o, BaseException)]
    assert len(refused) == 1
    assert "argument 'when' of task 'late' is not JSON" in str(refused[0])
    stored = {t.id: t for t in store.list(TaskFilter(), limit=1000).tasks}
    expected = 0
    for n, produced in outcomes.items():
        for outcome in produced:
            if isinstance(outcome, BaseException):
                continue
            names, ids = outcome
            expected += len(names)
            assert [stored[i].name for i in ids] == names
            assert all(stored[i].args[0] == n for i in ids)
    assert len(stored) == expected
    assert "late" not in {t.name for t in stored.values()}
