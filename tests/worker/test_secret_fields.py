"""A queue's secret fields never reach the worker's log lines, while the handler gets the
real values: a handler whose error quotes its secret argument is logged with "***"."""

from __future__ import annotations

import logging

import pytest

from conveyor import Conveyor
from conveyor.core.task import Status
from tests.waiting import wait_until
from tests.worker.conftest import StartWorker

SECRET = "s3cr3t-card-4111"


def test_a_failure_quoting_a_secret_is_logged_masked(
    app: Conveyor, start_worker: StartWorker, caplog: pytest.LogCaptureFixture
) -> None:
    app.queue("default", secret_fields=["key"])
    handle = app.enqueue("explode", kwargs={"key": SECRET}, max_attempts=1)
    caplog.set_level(logging.DEBUG, logger="conveyor")

    worker = start_worker()
    wait_until(lambda: app.get(handle.id).status is Status.FAILED, timeout=10)
    worker.stop()

    stored = app.get(handle.id)
    assert f"boom {SECRET}" in stored.errors[-1]["error"]  # the handler saw the real value
    failures = [r for r in caplog.records if r.getMessage().startswith("task failed")]
    assert failures, [r.getMessage() for r in caplog.records]
    assert "boom ***" in failures[0].getMessage()
    assert all(SECRET not in r.getMessage() for r in caplog.records)
