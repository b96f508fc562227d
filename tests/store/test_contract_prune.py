"""Retention: prune deletes finished tasks past their retention, in bounded batches."""

from __future__ import annotations

from conveyor.core.task import Status
from conveyor.store import Store
from conveyor.store.base import TaskFilter
from tests.factories import cancelled, completed, failed, in_state, later


def test_prune_deletes_only_finished_tasks_older_than_their_retention(store: Store) -> None:
    now = later(10_000)
    old_done = completed(store, queue="old-done", now=now - 1000)
    new_done = completed(store, queue="new-done", now=now - 10)
    old_cancelled = cancelled(store, queue="old-cancelled", now=now - 1000)
    old_failed = failed(store, queue="old-failed", now=now - 1000)
    young_failed = failed(store, queue="young-failed", now=now - 500)
    unfinished = [
        in_state(store, s, queue=str(s)) for s in (Status.QUEUED, Status.RUNNING, Status.SCHEDULED)
    ]

    assert store.prune(completed_seconds=100, failed_seconds=600, now=now) == 3

    for gone in (old_done, old_cancelled, old_failed):
        assert store.get(gone.id) is None
    for kept in (new_done, young_failed, *unfinished):
        assert store.get(kept.id) == kept


def test_unfinished_tasks_are_never_pruned(store: Store) -> None:
    unfinished = [
        in_state(store, s, queue=str(s)) for s in (Status.QUEUED, Status.RUNNING, Status.SCHEDULED)
    ]

    assert store.prune(completed_seconds=0, failed_seconds=0, now=later(10**7)) == 0

    assert [store.get(t.id) for t in unfinished] == unfinished


def test_prune_is_bounded_by_its_limit(store: Store) -> None:
    now = later(1000)
    for i in range(5):
        completed(store, queue=f"q{i}", now=now - 500)

    assert store.prune(60, 60, now=now, limit=2) == 2
    assert store.prune(60, 60, now=now, limit=2) == 2
    assert store.prune(60, 60, now=now, limit=2) == 1
    assert store.prune(60, 60, now=now, limit=2) == 0
    assert store.list(TaskFilter()).tasks == []
