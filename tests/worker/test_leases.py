"""Leases held by a live worker, and time by the store's clock."""

from __future__ import annotations

from datetime import timedelta

from conveyor import Conveyor, Status
from tests.apps.sink import SinkFile
from tests.worker.conftest import StartWorker


def test_heartbeats_extend_the_lease_of_a_task_running_longer_than_the_lease(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    # The reaper runs every 0.1 s on this same worker, so an unextended lease would be
    # reaped within 1.1 s and the task would run a second time.
    start_worker(lease_seconds=1.0, reap_interval=0.1)
    handle = app.enqueue("nap", ["long", 3.0])

    assert handle.wait(timeout=15) == "long"
    task = app.get(handle.id)
    assert task.status is Status.COMPLETED
    assert task.attempts == 1
    assert task.errors == [], "the lease was reaped while the task ran"
    assert len(sink.runs("long")) == 1


def test_delayed_task_never_starts_before_its_run_at(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker(concurrency=4)
    delayed = [app.enqueue("run", [f"d{i}"], delay=0.2 + 0.2 * i) for i in range(4)]
    now = app.enqueue("run", ["now"])

    assert now.wait(timeout=10)["key"] == "now"
    for handle in delayed:
        handle.wait(timeout=10)
        task = app.get(handle.id)
        assert task.started_at is not None
        assert task.started_at >= task.run_at, f"{task.id} started before its run_at"
        assert task.run_at - task.created_at >= timedelta(seconds=0.2)


def test_delayed_task_is_scheduled_until_due(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker()
    handle = app.enqueue("run", ["later"], delay=60)
    probe = app.enqueue("run", ["probe"])

    assert probe.wait(timeout=10)["key"] == "probe"
    task = app.get(handle.id)
    assert task.status is Status.SCHEDULED
    assert task.attempts == 0
    assert "later" not in sink.run_counts()


def test_expired_lease_of_a_dead_holder_is_reaped_and_the_task_runs_again(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    # A holder that claimed and then vanished: nothing extends its lease.
    handle = app.enqueue("run", ["orphan"])
    [claimed] = app.store.claim(["default"], 1, "vanished", 0.3)
    assert claimed.task.id == handle.id

    start_worker(reap_interval=0.1)

    assert handle.wait(timeout=10)["key"] == "orphan"
    task = app.get(handle.id)
    assert task.attempts == 2
    assert "lease expired" in task.errors[0]["error"]
    assert "vanished" in task.errors[0]["error"]
    assert len(sink.runs("orphan")) == 1
