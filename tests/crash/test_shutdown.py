"""SIGTERM: stop claiming, finish what fits in the grace period, release the rest."""

from __future__ import annotations

import signal
import time

import pytest

from conveyor import Conveyor, Status
from tests.apps.sink import SinkFile
from tests.crash.conftest import StartWorker
from tests.waiting import wait_until

GRACE = 2.0


@pytest.mark.slow
@pytest.mark.parametrize("loop", ["auto", "asyncio"])  # auto is uvloop here
def test_sigterm_drains_gracefully(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker, loop: str
) -> None:
    gate = sink.gate()  # stays shut: these tasks would outlive any grace period
    blocked = [app.enqueue("ablock", [f"blocked{i}", gate], priority="high") for i in range(2)]
    stuck = app.enqueue("block", ["stuck", gate], priority="high")
    naps = [app.enqueue("nap", [f"nap{i}", 0.5], priority="high") for i in range(2)]
    quick = app.enqueue_many({"name": "run", "args": [f"q{i}"]} for i in range(500))
    worker = start_worker(concurrency=10, grace=GRACE, lease=60.0, loop=loop)
    wait_until(
        lambda: (
            {"blocked0", "blocked1", "stuck", "nap0", "nap1"} <= set(sink.run_counts())
            and len(sink.run_counts()) > 10
        ),
        timeout=20,
        message="the long tasks running and the quick ones under way",
    )

    assert f"loop={'asyncio' if loop == 'asyncio' else 'uvloop'}" in worker.log()

    worker.signal(signal.SIGTERM)
    sent = time.monotonic()
    assert worker.wait(GRACE + 5) == 0, worker.log()
    assert time.monotonic() - sent < GRACE + 3

    assert app.list_tasks(status="running").tasks == [], "a task was left running"
    for handle in [*blocked, stuck]:
        task = app.get(handle.id)
        assert task.status is Status.QUEUED, f"{task.name} was not released"
        assert task.attempts == 0, "a released attempt must not count"
        assert task.errors == []
    for handle in naps:
        assert app.get(handle.id).status is Status.COMPLETED, "a task within grace was cut"
    runs = sink.run_counts()
    for handle in quick:
        task = app.get(handle.id)
        key = task.args[0]
        if task.status is Status.COMPLETED:
            assert runs[key] == 1
        else:
            assert task.status is Status.QUEUED
            assert task.attempts == 0
            assert key not in runs, f"{key} ran but was not acknowledged"


@pytest.mark.slow
def test_released_tasks_are_taken_at_once_by_another_worker(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    gate = sink.gate()
    handle = app.enqueue("ablock", ["long", gate])
    first = start_worker(grace=0.5, lease=60.0)
    wait_until(lambda: sink.runs("long"), timeout=20, message="the task to start")
    first.signal(signal.SIGTERM)
    assert first.wait(10) == 0, first.log()

    sink.open(gate)
    second = start_worker(lease=60.0)
    # Far sooner than the 60 s lease: the task came back by release, not by the reaper.
    assert handle.wait(timeout=20) == second.pid
    task = app.get(handle.id)
    assert task.attempts == 1
    assert task.errors == []
    assert sink.runs("long") == [first.pid, second.pid]
