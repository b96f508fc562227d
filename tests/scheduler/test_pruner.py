"""The pruner keeps the worker registry bounded: long-gone workers are forgotten."""

from __future__ import annotations

from conveyor.core.workers import NewWorker
from conveyor.scheduler.duties import Pruner
from conveyor.store import Store
from tests.factories import later


def test_the_pruner_forgets_workers_gone_longer_than_the_retention(store: Store) -> None:
    now = later()
    for worker_id in ("gone", "recent"):
        store.register_worker(NewWorker(worker_id, "h", 1, ("default",), 1, 1.0), now=now)
    store.deregister_worker("gone", now=now)
    store.heartbeat_worker("recent", 0, now=now + 90)

    Pruner(worker_retention=60.0).run_once(store, now=now + 100)

    assert [w.id for w in store.list_workers(now=now + 100)] == ["recent"]
