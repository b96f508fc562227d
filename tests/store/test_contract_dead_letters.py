"""Dead letters: failed tasks keep their history; replay requeues them, purge deletes them."""

from __future__ import annotations

from conveyor.core.task import Failure, RetryPolicy, Status
from conveyor.store import Store
from tests.factories import (
    attempt_error,
    claim_task,
    claimed,
    enqueued,
    failed,
    in_state,
    later,
    queued_and_due,
)


def test_replay_requeues_a_failed_task_with_fresh_attempts(store: Store) -> None:
    now = later()
    first = claimed(store, retry=RetryPolicy(max_attempts=2), now=now)
    assert store.fail([Failure(first.lease, attempt_error(1), retry_delay=0.0)], now=now)
    second = claim_task(store, first.task, now=now)
    assert store.fail([Failure(second.lease, attempt_error(2), retry_delay=None)], now=now)

    assert store.replay([first.task.id], now=now + 10) == [first.task.id]

    task = store.get(first.task.id)
    assert queued_and_due(task, now + 10)
    assert task is not None
    assert task.attempts == 0
    assert task.finished_at is None
    assert [e["attempt"] for e in task.errors] == [1, 2]
    third = claim_task(store, task, now=now + 10)
    assert third.lease.token > max(first.lease.token, second.lease.token)
    assert third.task.attempts == 1


def test_replay_by_queue_and_all(store: Store) -> None:
    a1, a2 = failed(store, queue="a"), failed(store, queue="a")
    b = failed(store, queue="b")

    assert sorted(store.replay(queue="a")) == sorted([a1.id, a2.id])
    assert store.get(b.id) == b
    assert store.replay() == [b.id]
    replayed = [store.get(t.id) for t in (a1, a2, b)]
    assert all(t is not None and t.status is Status.QUEUED for t in replayed)


def test_replay_leaves_tasks_that_did_not_fail_alone(store: Store) -> None:
    others = [
        in_state(store, s, queue=str(s))
        for s in (Status.QUEUED, Status.RUNNING, Status.COMPLETED, Status.CANCELLED)
    ]

    assert store.replay([t.id for t in others]) == []
    assert store.replay() == []

    assert [store.get(t.id) for t in others] == others


def test_purge_by_ids_deletes_only_those_dead_letters(store: Store) -> None:
    doomed, kept = failed(store, queue="a"), failed(store, queue="a")
    done = in_state(store, Status.COMPLETED, queue="a")

    assert store.purge([doomed.id, done.id]) == 1

    assert store.get(doomed.id) is None
    assert store.get(kept.id) == kept
    assert store.get(done.id) == done


def test_purge_by_queue_and_all(store: Store) -> None:
    a = failed(store, queue="a")
    b1, b2 = failed(store, queue="b"), failed(store, queue="b")
    queued = enqueued(store, queue="b")

    assert store.purge(queue="b") == 2
    assert store.get(b1.id) is None
    assert store.get(b2.id) is None
    assert store.get(a.id) == a
    assert store.purge() == 1
    assert store.get(a.id) is None
    assert store.get(queued.id) == queued
