"""Invariant 8: a cancelled queued task never starts; a running one is told to stop and
its late result is discarded."""

from __future__ import annotations

import logging

import pytest

from conveyor import Conveyor, Status, TaskCancelled
from tests.apps.sink import SinkFile
from tests.waiting import wait_until
from tests.worker.conftest import StartWorker


def test_cancelled_queued_task_never_runs(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker(concurrency=1)
    gate = sink.gate()
    busy = app.enqueue("block", ["busy", gate])
    wait_until(lambda: sink.runs("busy"), message="the only slot busy")
    queued = app.enqueue("run", ["cancelled"])

    assert app.cancel(queued.id).status is Status.CANCELLED
    sink.open(gate)
    busy.wait(timeout=10)
    assert app.enqueue("run", ["after"]).wait(timeout=10)["key"] == "after"

    with pytest.raises(TaskCancelled, match=queued.id):
        queued.wait(timeout=1)
    task = app.get(queued.id)
    assert task.status is Status.CANCELLED
    assert task.attempts == 0
    assert task.started_at is None
    assert "cancelled" not in sink.run_counts()


def test_cancelling_a_running_task_stops_its_attempt(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker(concurrency=1, lease_seconds=0.6)
    running = app.enqueue("ablock", ["victim", sink.gate()])
    wait_until(lambda: sink.runs("victim"), message="the task to start")

    app.cancel(running.id)

    # One slot: the next task can only start once the cancelled attempt has given it up,
    # and the gate of the cancelled one is still shut.
    follower = app.enqueue("run", ["follower"])
    assert follower.wait(timeout=10)["key"] == "follower"
    assert not sink.done("victim")
    with pytest.raises(TaskCancelled):
        running.wait(timeout=1)
    task = app.get(running.id)
    assert task.status is Status.CANCELLED
    assert task.result is None
    assert task.attempts == 1


def test_late_result_of_a_cancelled_task_is_discarded(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    # A sync handler cannot be interrupted: its thread runs to the end and returns a
    # result, which the store must refuse because the lease went with the cancel.
    start_worker(concurrency=1, lease_seconds=0.6)
    gate = sink.gate()
    running = app.enqueue("block", ["victim", gate])
    wait_until(lambda: sink.runs("victim"), message="the task to start")

    app.cancel(running.id)
    sink.open(gate)
    wait_until(lambda: sink.done("victim"), message="the handler to return its result")
    assert app.enqueue("run", ["follower"]).wait(timeout=10)["key"] == "follower"

    task = app.get(running.id)
    assert task.status is Status.CANCELLED
    assert task.result is None
    assert task.errors == []


def test_a_result_the_store_refuses_is_logged_as_a_lost_lease(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    # A long lease: the worker learns of the cancel only when the store refuses the
    # result, not from a lease extension beforehand.
    caplog.set_level(logging.INFO, logger="conveyor")
    start_worker(concurrency=1, lease_seconds=60.0)
    gate = sink.gate()
    running = app.enqueue("block", ["victim", gate])
    wait_until(lambda: sink.runs("victim"), message="the task to start")

    app.cancel(running.id)
    sink.open(gate)
    wait_until(
        lambda: any("outcome refused" in r.getMessage() for r in caplog.records),
        message="the refused result logged",
    )
    refused = next(r for r in caplog.records if "outcome refused" in r.getMessage())
    assert refused.levelno == logging.WARNING
    assert app.get(running.id).status is Status.CANCELLED
