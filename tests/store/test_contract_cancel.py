"""Invariant 8: a cancelled queued task never starts; a running one's late result is discarded."""

from __future__ import annotations

import uuid

from conveyor.core.task import Completion, Failure, Status
from conveyor.store import Store
from tests.factories import attempt_error, claimed, enqueued, in_state, later


def test_queued_task_is_cancelled(store: Store) -> None:
    task = enqueued(store)
    now = later()

    assert store.cancel([task.id], now=now) == [task.id]

    cancelled = store.get(task.id)
    assert cancelled is not None
    assert cancelled.status is Status.CANCELLED
    assert cancelled.finished_at is not None


def test_cancelled_queued_task_is_never_claimed(store: Store) -> None:
    doomed = enqueued(store)
    kept = enqueued(store)
    now = later()
    assert store.cancel([doomed.id], now=now) == [doomed.id]

    claimed_ids = [c.task.id for c in store.claim(["default"], 10, "w", 30.0, now=now + 3600)]

    assert claimed_ids == [kept.id]
    assert store.claim(["default"], 10, "w", 30.0, now=now + 86400) == []


def test_scheduled_task_is_cancelled_and_never_claimed(store: Store) -> None:
    task = enqueued(store, delay=60.0)

    assert store.cancel([task.id]) == [task.id]

    cancelled = store.get(task.id)
    assert cancelled is not None
    assert cancelled.status is Status.CANCELLED
    assert store.claim(["default"], 10, "w", 30.0, now=later(120)) == []


def test_running_task_is_cancelled_and_its_late_complete_is_refused(store: Store) -> None:
    now = later()
    lease = claimed(store, now=now).lease

    assert store.cancel([lease.task_id], now=now + 1) == [lease.task_id]

    assert store.heartbeat([lease], 30.0, now=now + 2) == []
    assert store.complete([Completion(lease, "late")], now=now + 2) == []
    assert store.fail([Failure(lease, attempt_error(1), retry_delay=1.0)], now=now + 2) == []
    task = store.get(lease.task_id)
    assert task is not None
    assert task.status is Status.CANCELLED
    assert task.result is None
    assert task.errors == []
    assert store.reap_expired(now=now + 3600) == 0
    assert store.claim(["default"], 10, "w", 30.0, now=now + 3600) == []


def test_finished_tasks_are_not_cancelled(store: Store) -> None:
    finished = [
        in_state(store, s, queue=str(s))
        for s in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    ]

    assert store.cancel([t.id for t in finished]) == []

    assert [store.get(t.id) for t in finished] == finished


def test_cancel_returns_only_the_tasks_it_cancelled(store: Store) -> None:
    queued = enqueued(store, queue="a")
    completed = in_state(store, Status.COMPLETED, queue="b")
    unknown = str(uuid.uuid4())

    assert store.cancel([queued.id, completed.id, unknown]) == [queued.id]
