"""Enqueue: a batch is stored atomically and in order; bad input loses nothing stored."""

from __future__ import annotations

import time

import pytest

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
    assert [r.task.name for r in results] == [f"job-{i}" for i in range(5)]
    assert len({r.task.id for r in results}) == 5
    for r in results:
        assert r.task.status is Status.QUEUED
        assert r.task.attempts == 0
        assert r.task.priority is Priority.NORMAL
        assert r.task.retry == RetryPolicy()
        assert r.task.started_at is None
        assert r.task.finished_at is None
        assert r.task.worker_id is None
        assert r.task.lease_expires_at is None
        assert r.task.run_at.timestamp() == pytest.approx(before, abs=2.0)
    assert store.get(results[0].task.id) == results[0].task


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
    assert all_tasks(store) == [after.task.id, kept.id]


def test_empty_batch_stores_nothing(store: Store) -> None:
    assert store.enqueue([]) == []
    assert all_tasks(store) == []


def test_get_unknown_task_returns_none(store: Store) -> None:
    assert store.get("00000000-0000-4000-8000-000000000000") is None
