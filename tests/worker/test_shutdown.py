"""Two-phase stop: stop claiming, let attempts finish within the grace period, then
release the rest so another worker takes them at once."""

from __future__ import annotations

import time

from conveyor import Conveyor, Status
from tests.apps.sink import SinkFile
from tests.waiting import wait_until
from tests.worker.conftest import StartWorker


def test_stop_lets_tasks_in_flight_finish_within_the_grace_period(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    worker = start_worker(concurrency=3, grace_seconds=10.0)
    handles = [app.enqueue("nap", [f"n{i}", 0.5]) for i in range(3)]
    wait_until(lambda: len(sink.run_counts()) == 3, message="three tasks in flight")
    waiting = app.enqueue("run", ["never-claimed"])

    worker.stop()

    for handle in handles:
        task = app.get(handle.id)
        assert task.status is Status.COMPLETED
        assert task.attempts == 1
    assert app.get(waiting.id).status is Status.QUEUED, "a stopping worker claimed new work"
    assert "never-claimed" not in sink.run_counts()


def test_stop_releases_a_task_that_outlives_the_grace_period(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    # The lease is far longer than the test: the task must come back through the
    # release, not through the reaper.
    worker = start_worker(grace_seconds=0.3, lease_seconds=60.0)
    handle = app.enqueue("ablock", ["long", sink.gate()])
    wait_until(lambda: sink.runs("long"), message="the task to start")

    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 5.0

    task = app.get(handle.id)
    assert task.status is Status.QUEUED
    assert task.attempts == 0, "a released attempt must not count"
    assert task.errors == []
    assert task.lease_expires_at is None

    start_worker()
    sink.open_all()
    assert handle.wait(timeout=10) > 0
    assert app.get(handle.id).attempts == 1
    assert len(sink.runs("long")) == 2


def test_stop_releases_a_blocked_sync_task_without_waiting_for_its_thread(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    worker = start_worker(grace_seconds=0.3, lease_seconds=60.0)
    handle = app.enqueue("block", ["stuck", sink.gate()])
    wait_until(lambda: sink.runs("stuck"), message="the task to start")

    worker.stop()

    task = app.get(handle.id)
    assert task.status is Status.QUEUED
    assert task.attempts == 0
    # The abandoned thread returns later; its result must not land on the released task.
    sink.open_all()
    wait_until(lambda: sink.done("stuck"), message="the abandoned handler to return")
    assert app.get(handle.id).status is Status.QUEUED
