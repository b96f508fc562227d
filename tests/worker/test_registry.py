"""A running worker is in the registry: registered at start, beating with its in-flight
count, and marked stopped (not dead) after a graceful stop."""

from __future__ import annotations

import os
import socket

from conveyor import Conveyor
from conveyor.core.workers import WorkerInfo, WorkerState
from tests.apps.sink import SinkFile
from tests.waiting import wait_until
from tests.worker.conftest import StartWorker


def only(app: Conveyor, worker_id: str) -> WorkerInfo | None:
    return next((w for w in app.workers() if w.id == worker_id), None)


def test_a_running_worker_registers_and_reports_its_tasks_in_flight(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    running = start_worker(("default", "emails"), concurrency=3, lease_seconds=0.9)
    worker_id = running.worker.worker_id

    seen = wait_until(lambda: only(app, worker_id), message="the worker to register")
    assert seen.alive
    assert (seen.host, seen.pid) == (socket.gethostname(), os.getpid())
    assert seen.queues == ("default", "emails")
    assert seen.concurrency == 3
    assert seen.heartbeat_seconds == 0.3

    gate = sink.gate()
    app.enqueue("ablock", ["a", gate])
    app.enqueue("ablock", ["b", gate])
    wait_until(
        lambda: (w := only(app, worker_id)) is not None and w.in_flight == 2,
        message="two tasks in flight in the registry",
    )
    sink.open(gate)
    wait_until(
        lambda: (w := only(app, worker_id)) is not None and w.in_flight == 0,
        message="nothing in flight in the registry",
    )
    assert only(app, worker_id).alive  # type: ignore[union-attr]


def test_a_gracefully_stopped_worker_is_shown_stopped(
    app: Conveyor, start_worker: StartWorker
) -> None:
    running = start_worker()
    worker_id = running.worker.worker_id
    wait_until(lambda: only(app, worker_id), message="the worker to register")

    running.stop()

    seen = only(app, worker_id)
    assert seen is not None
    assert seen.state is WorkerState.STOPPED
    assert seen.stopped_at is not None
