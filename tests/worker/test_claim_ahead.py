"""Claim-ahead: a worker claims beyond its free slots only what it starts within
`AHEAD_SECONDS` at its recent rate, so quick tasks come in batches while an idle worker
never starves behind long tasks another one claimed; and a stop gives buffered tasks
back at once."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

from conveyor import Conveyor, Status
from conveyor.core.task import Claimed, Lease
from conveyor.store import Store
from conveyor.store.base import TaskFilter
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import MAX_AHEAD, Worker
from tests.apps.sink import SinkFile
from tests.waiting import wait_until
from tests.worker.conftest import RunningWorker


class Claims:
    """The app's store, noting how many tasks each claim asked for and got back, and
    which leases were released."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.asked: list[int] = []
        self.got: list[int] = []
        self.released: list[str] = []

    def claim(self, queues: Sequence[str], limit: int, *args: Any, **kwargs: Any) -> list[Claimed]:
        claimed = self._store.claim(queues, limit, *args, **kwargs)
        with self._lock:
            self.asked.append(limit)
            self.got.append(len(claimed))
        return claimed

    def release(self, leases: Sequence[Lease], now: float | None = None) -> list[str]:
        with self._lock:
            self.released += [lease.task_id for lease in leases]
        return self._store.release(leases, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def start(app: Conveyor, store: Claims, **config: Any) -> RunningWorker:
    settings = WorkerConfig(**{"lease_seconds": 60.0, "reap_interval": 0.2, **config})
    return RunningWorker(Worker(cast(Store, store), app.registry, ["default"], settings))


def by_status(app: Conveyor, status: Status) -> int:
    return len(app.store.list(TaskFilter(status=status), limit=1000).tasks)


def test_quick_tasks_are_claimed_in_batches_beyond_the_free_slots(
    app: Conveyor, sink: SinkFile
) -> None:
    store = Claims(app.store)
    handles = [app.enqueue("run", [f"k{i}"]) for i in range(400)]
    worker = start(app, store, concurrency=2)
    try:
        for handle in handles:
            assert handle.wait(timeout=60) is not None
    finally:
        worker.stop()

    assert max(store.asked) > 2, "the worker never claimed beyond its two slots"
    assert max(store.asked) <= 2 * 2 + MAX_AHEAD
    assert all(count == 1 for count in sink.run_counts().values())
    assert len(sink.run_counts()) == 400


def test_long_tasks_are_claimed_only_into_free_slots(app: Conveyor, sink: SinkFile) -> None:
    # At two tasks per 0.3 s, 50 ms of work is less than one task: nothing is claimed
    # ahead, and the tasks waiting stay free for any other worker.
    store = Claims(app.store)
    handles = [app.enqueue("nap", [f"n{i}", 0.3]) for i in range(6)]
    worker = start(app, store, concurrency=2)
    try:
        wait_until(lambda: len(sink.run_counts()) >= 2, message="two tasks to start")
        assert by_status(app, Status.RUNNING) <= 2
        for handle in handles:
            assert handle.wait(timeout=30) is not None
    finally:
        worker.stop()

    assert max(store.asked) <= 2


def test_stop_releases_the_tasks_waiting_in_the_buffer_at_once(
    app: Conveyor, sink: SinkFile
) -> None:
    # The lease outlives the test: a buffered task comes back through the release on
    # stop, never through the reaper.
    store = Claims(app.store)
    gate = sink.gate()
    for i in range(300):
        app.enqueue("run", [f"k{i}"])
    app.enqueue("block", ["held", gate])  # the last slot-holder when the stop comes
    for i in range(300):
        app.enqueue("run", [f"late{i}"])
    worker = start(app, store, concurrency=1, grace_seconds=0.5)
    try:
        wait_until(lambda: sink.runs("held"), message="the blocking task to start")
        # Running or buffered: leased by the worker, beside the blocking task.
        assert by_status(app, Status.RUNNING) > 1, "nothing was claimed ahead"
    finally:
        worker.stop()
        sink.open(gate)

    assert by_status(app, Status.RUNNING) == 0
    queued = app.store.list(TaskFilter(status=Status.QUEUED), limit=1000).tasks
    late = [task for task in queued if task.name == "run"]
    assert len(late) == 300, "a task queued behind the blocking one ran"
    assert all(task.attempts == 0 for task in late), "a released claim kept its attempt"
    assert len(store.released) >= 2  # the buffer, then the blocking task
    assert all(count == 1 for count in sink.run_counts().values())
