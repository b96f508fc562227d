"""A slot frees when its handler returns: the next claim overlaps the acknowledgement of
the last batch, while at most `concurrency` outcomes wait for the store."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

from conveyor import Conveyor, Status
from conveyor.core.task import Completion
from conveyor.store import Store
from conveyor.store.base import TaskFilter
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import Worker
from tests.apps.sink import SinkFile
from tests.waiting import wait_until
from tests.worker.conftest import RunningWorker


class HeldAcks:
    """The app's store, with every `complete` held until `release` is set."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.release = threading.Event()

    def complete(self, completions: Sequence[Completion], now: float | None = None) -> list[str]:
        self.release.wait(timeout=30)
        return self._store.complete(completions, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def running(app: Conveyor) -> int:
    return len(app.store.list(TaskFilter(status=Status.RUNNING), limit=100).tasks)


def test_claims_overlap_a_pending_acknowledgement_up_to_twice_the_concurrency(
    app: Conveyor, sink: SinkFile
) -> None:
    store = HeldAcks(app.store)
    config = WorkerConfig(concurrency=2, lease_seconds=5.0, reap_interval=0.2, claim_ahead=False)
    handles = [app.enqueue("run", [f"k{i}"]) for i in range(6)]
    worker = RunningWorker(Worker(cast(Store, store), app.registry, ["default"], config))
    try:
        # Two ran and wait for their acknowledgement; their slots took two more, which
        # ran too; then the worker stops claiming until the store has acknowledged.
        wait_until(lambda: len(sink.run_counts()) == 4, message="four tasks to run")
        assert running(app) == 4
        assert worker.running
        threading.Event().wait(0.3)
        assert len(sink.run_counts()) == 4, "more outcomes than slots awaited the store"

        store.release.set()

        for handle in handles:
            assert handle.wait(timeout=20) is not None
        assert sorted(sink.run_counts()) == [f"k{i}" for i in range(6)]
        assert all(count == 1 for count in sink.run_counts().values())
    finally:
        store.release.set()
        worker.stop()
