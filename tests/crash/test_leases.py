"""Invariants 2 and 3 with real processes: one runner at a time, and nothing stuck."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from conveyor import Conveyor, Status
from conveyor.core.task import AttemptError, Completion, Failure
from tests.apps.sink import SinkFile
from tests.crash.conftest import StartWorker, WorkerProcess
from tests.waiting import wait_until


@pytest.mark.slow
def test_sigkill_mid_task_completes_elsewhere(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    gate = sink.gate()
    handle = app.enqueue("block", ["k", gate])
    first = start_worker(lease=2.0, reap_interval=0.5)
    wait_until(lambda: sink.runs("k"), timeout=20, message="worker A to start the task")
    assert first.owns(app.get(handle.id).worker_id)

    first.signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    sink.open(gate)
    second = start_worker(lease=2.0, reap_interval=0.5)

    assert handle.wait(timeout=30) == second.pid, second.log()
    task = app.get(handle.id)
    assert task.status is Status.COMPLETED
    assert task.attempts == 2
    assert second.owns(task.worker_id)
    [reaped] = task.errors
    assert "lease expired" in reaped["error"]
    assert sink.runs("k") == [first.pid, second.pid]


def test_stale_complete_is_refused(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    # The test is the first holder: it claims the task with a short lease and then goes
    # quiet, as a worker stuck in a GC pause or a network partition would.
    gate = sink.gate()
    handle = app.enqueue("block", ["k", gate])
    [stale] = app.store.claim(["default"], 1, "paused-holder", 0.5)
    worker = start_worker(reap_interval=0.2)
    wait_until(lambda: sink.runs("k"), timeout=20, message="the worker to re-claim the task")

    error = AttemptError(attempt=1, error="late", worker_id="paused-holder")
    assert app.store.heartbeat([stale.lease], 30.0) == []
    assert app.store.complete([Completion(stale.lease, "stale result")]) == []
    assert app.store.fail([Failure(stale.lease, error, retry_delay=None)]) == []
    assert app.store.release([stale.lease]) == []
    task = app.get(handle.id)
    assert task.status is Status.RUNNING
    assert worker.owns(task.worker_id), "a refused write must not touch the new holder"

    sink.open(gate)
    assert handle.wait(timeout=20) == worker.pid
    assert app.store.complete([Completion(stale.lease, "stale result")]) == []
    task = app.get(handle.id)
    assert task.status is Status.COMPLETED
    assert task.result == worker.pid
    assert task.attempts == 2
    assert [e["worker_id"] for e in task.errors] == ["paused-holder"]


@pytest.mark.slow
def test_frozen_worker_cannot_overwrite_the_outcome_after_it_wakes(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker, store_url: str
) -> None:
    gate = sink.gate()
    handle = app.enqueue("block", ["k", gate])
    frozen = start_worker(lease=1.0, reap_interval=0.3)
    wait_until(lambda: sink.runs("k"), timeout=20, message="worker A to start the task")
    freeze(frozen, store_url)

    thawed_later = start_worker(lease=5.0, reap_interval=0.3)
    wait_until(lambda: len(sink.runs("k")) == 2, timeout=20, message="worker B to re-run it")
    sink.open(gate)
    assert handle.wait(timeout=20) == thawed_later.pid

    # A wakes up, its handler returns, and it reports a result for a lease it lost.
    frozen.signal(signal.SIGCONT)
    wait_until(lambda: frozen.pid in done_by(sink, "k"), message="A's handler to return")
    frozen.signal(signal.SIGTERM)
    assert frozen.wait(15) == 0, frozen.log()

    task = app.get(handle.id)
    assert task.status is Status.COMPLETED
    assert task.result == thawed_later.pid
    assert task.attempts == 2
    assert sink.runs("k") == [frozen.pid, thawed_later.pid]


def done_by(sink: SinkFile, key: str) -> list[int]:
    return [pid for event, k, pid in sink.lines() if event == "done" and k == key]


def freeze(worker: WorkerProcess, store_url: str) -> None:
    """SIGSTOP `worker` at a moment it holds no SQLite write lock.

    A process stopped inside a write transaction would lock every other process out of
    a SQLite file; a PostgreSQL statement finishes on the server whatever the client does.
    """
    for _ in range(100):
        worker.signal(signal.SIGSTOP)
        wait_until(lambda: process_state(worker.pid) == "T", message="the worker to stop")
        if not store_url.startswith("sqlite") or sqlite_writable(store_url):
            return
        worker.signal(signal.SIGCONT)
    raise AssertionError("the worker always held the SQLite write lock")


def process_state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def sqlite_writable(store_url: str) -> bool:
    path = store_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
