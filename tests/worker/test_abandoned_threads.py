"""A sync handler past its timeout keeps its thread; later sync tasks must still run."""

from __future__ import annotations

import pytest

from conveyor import Conveyor, TaskFailed
from tests.apps.sink import SinkFile
from tests.worker.conftest import StartWorker


def test_sync_tasks_run_after_more_hung_handlers_than_the_pool_has_threads(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker(concurrency=1)  # a pool of two threads
    gate = sink.gate()  # stays shut: every overrun_sync handler hangs for good
    hung = [app.enqueue("overrun_sync", [f"hung{i}", gate]) for i in range(3)]
    for handle in hung:
        with pytest.raises(TaskFailed, match="timed out"):
            handle.wait(timeout=10)

    assert app.enqueue("run", ["after"]).wait(timeout=10)["key"] == "after"
