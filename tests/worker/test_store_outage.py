"""An in-process worker whose store is down when it starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import Status
from conveyor.store.postgres.store import PostgresStore
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import Worker
from tests.apps.sink import SinkFile, build
from tests.crash.proxy import Outage
from tests.waiting import wait_until
from tests.worker.conftest import RunningWorker


@pytest.fixture
def outage(store_url: str) -> Iterator[Outage]:
    made = Outage(store_url)
    yield made
    made.close()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_heartbeats_keep_leases_when_the_store_was_down_at_start(
    store_url: str, outage: Outage, tmp_path: Path, sink: SinkFile
) -> None:
    # The worker reads queue settings when its heartbeat loop starts. With the store away
    # at that moment, the loop must carry on, not die and leave every lease to expire.
    outage.up()
    outage.down()
    store = PostgresStore(outage.url, timeout=0.2)
    app = build(store_url)
    config = WorkerConfig(concurrency=2, lease_seconds=1.0, reap_interval=0.1)
    running = RunningWorker(Worker(store, app.registry, ["default"], config))
    try:
        wait_until(lambda: outage.refused >= 4, message="the worker to find the store away")
        outage.up()
        handle = app.enqueue("nap", ["long", 3.0])

        assert handle.wait(timeout=20) == "long"
        task = app.get(handle.id)
        assert task.status is Status.COMPLETED
        assert task.attempts == 1, f"the lease was reaped: {task.errors}"
        assert len(sink.runs("long")) == 1
    finally:
        running.kill()
        store.close()
        app.close()
