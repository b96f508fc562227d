"""Handlers that hang or leak past their timeout: the attempt fails, the worker lives on
and its other slots keep working.

A sync handler cannot be interrupted, so its thread is abandoned when it times out;
more of them than the worker has threads must not starve the handlers that behave.
Recovery time of a bad attempt: how long after its timeout the attempt was failed.
"""

from __future__ import annotations

import pytest

from conveyor import Conveyor, Status
from tests.apps.sink import SinkFile
from tests.torture import sizes
from tests.torture.conftest import Record, StartTortureWorker
from tests.torture.results import Result
from tests.waiting import wait_until

CONCURRENCY = 4
TIMEOUT = 0.3
GOOD = 200


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_hanging_and_leaking_handlers_fail_and_the_worker_keeps_working(
    app: Conveyor,
    sink: SinkFile,
    start_worker: StartTortureWorker,
    size: sizes.Sizes,
    record: Record,
    backend: str,
) -> None:
    gate = sink.gate()  # never opened during the test: the hung handlers stay hung
    worker = start_worker(concurrency=CONCURRENCY)
    # More hung threads than the worker's pool holds (two per slot).
    hung = [app.enqueue("hang_sync", [f"hang{i}", gate]) for i in range(CONCURRENCY * 3)]
    hogs = [app.enqueue("hog", [f"hog{i}"]) for i in range(CONCURRENCY)]
    leaks = [app.enqueue("leak_sync", [f"leak{i}", 20, gate]) for i in range(CONCURRENCY)]
    bad = [*hung, *hogs, *leaks]
    wait_until(
        lambda: all(app.get(h.id).status is Status.FAILED for h in bad),
        timeout=60,
        interval=0.1,
        message="every bad attempt failed",
    )
    good = app.enqueue_many(
        {"name": name, "args": [f"{name}{i}"]} for i in range(GOOD) for name in ("run", "arun")
    )

    def good_done() -> int:
        return sum(app.get(h.id).status is Status.COMPLETED for h in good)

    finished = good_done()
    try:
        wait_until(lambda: good_done() == len(good), timeout=30, interval=0.2)
        finished = len(good)
    except AssertionError:
        finished = good_done()
    tasks = [app.get(h.id) for h in bad]
    late = [
        (t.finished_at - t.started_at).total_seconds() - TIMEOUT
        for t in tasks
        if t.finished_at is not None and t.started_at is not None
    ]
    record(
        Result(
            scenario="handler hangs or leaks past its timeout",
            backend=backend,
            load=f"{len(bad)} bad + {len(good)} good tasks, {CONCURRENCY} slots",
            faults=f"{len(hung) + len(leaks)} hung threads, {len(hogs)} hogs",
            lost=len(good) - finished,
            stuck=sum(t.status is not Status.FAILED for t in tasks),
            recoveries=late,
        )
    )
    assert finished == len(good), f"only {finished} of {len(good)} good tasks ran"
    for task in tasks:
        assert task.status is Status.FAILED
        assert "timed out after 0.3 seconds" in task.errors[-1]["error"]
    assert worker.alive(), worker.log()
