"""Two worker processes share one queue: no task lost, none run twice."""

from __future__ import annotations

import pytest

from conveyor import Conveyor
from tests.apps.sink import SinkFile
from tests.crash.conftest import StartWorker
from tests.waiting import wait_until

TASKS = 2000


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_two_workers_process_2000_tasks_exactly_once(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    workers = [start_worker(concurrency=10, lease=30.0) for _ in range(2)]
    # Both must be claiming before the work arrives, or the first up could take it all.
    wait_until(lambda: all(w.ready() for w in workers), timeout=30, message="both workers up")
    for start in range(0, TASKS, 100):
        app.enqueue_many({"name": "run", "args": [f"t{i}"]} for i in range(start, start + 100))

    def completed() -> bool:
        counts = {s.queue: s.counts for s in app.stats()}["default"]
        return counts.get("completed", 0) == TASKS

    wait_until(completed, timeout=120, interval=0.2, message=f"{TASKS} tasks completed")

    counts = {s.queue: s.counts for s in app.stats()}["default"]
    assert counts == {"completed": TASKS}
    runs = sink.run_counts()
    assert set(runs) == {f"t{i}" for i in range(TASKS)}, "a task was lost"
    assert {k: n for k, n in runs.items() if n != 1} == {}, "a task ran twice"
    pids = {pid for _, _, pid in sink.lines()}
    assert pids == {w.pid for w in workers}, "both workers should have taken a share"
    assert all(w.alive() for w in workers)
