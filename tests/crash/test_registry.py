"""The worker registry with real processes: a SIGKILLed worker is shown dead once it
missed three beats and its task is reaped as usual; a SIGTERMed one is shown stopped."""

from __future__ import annotations

import signal
from datetime import timedelta

from conveyor import Conveyor, Status
from conveyor.core.workers import WorkerInfo, WorkerState
from tests.apps.sink import SinkFile
from tests.crash.conftest import StartWorker, WorkerProcess
from tests.waiting import wait_until


def seen(app: Conveyor, process: WorkerProcess) -> WorkerInfo | None:
    return next((w for w in app.workers() if w.pid == process.pid), None)


def test_a_killed_worker_is_shown_dead_and_its_task_is_reaped(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    gate = sink.gate()
    handle = app.enqueue("block", ["k", gate])
    first = start_worker(lease=1.5, reap_interval=0.2)
    wait_until(lambda: sink.runs("k"), timeout=20, message="the first worker to start the task")
    busy = wait_until(
        lambda: (w := seen(app, first)) is not None and w.in_flight == 1 and w,
        timeout=10,
        message="the first worker to report its task in flight",
    )
    assert busy.alive and busy.heartbeat_seconds == 0.5

    first.signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL

    dead = wait_until(
        lambda: (w := seen(app, first)) is not None and not w.alive and w,
        timeout=10,
        message="the killed worker to be shown dead",
    )
    assert dead.state is WorkerState.DEAD
    assert dead.stopped_at is None
    assert dead.in_flight == 1, "the last beat before the kill is what the registry knows"
    assert app.store.now() - dead.last_seen >= timedelta(seconds=dead.dead_after_seconds)

    sink.open(gate)
    second = start_worker(lease=1.5, reap_interval=0.2)
    assert handle.wait(timeout=30) == second.pid
    assert app.get(handle.id).status is Status.COMPLETED
    assert [w.alive for w in (seen(app, first), seen(app, second))] == [False, True]


def test_a_terminated_worker_is_shown_stopped(app: Conveyor, start_worker: StartWorker) -> None:
    worker = start_worker(lease=1.5)
    wait_until(lambda: seen(app, worker), timeout=20, message="the worker to register")

    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0

    stopped = seen(app, worker)
    assert stopped is not None
    assert stopped.state is WorkerState.STOPPED
