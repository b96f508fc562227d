"""`--log-format json`: every line a worker writes is one JSON object, and every line about
a task carries the task's id, name, queue and attempt."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from conveyor import Conveyor, Status
from tests.apps.sink import SinkFile
from tests.crash.conftest import WorkerProcess
from tests.waiting import wait_until

TASK_KEYS = {"task_id", "task_name", "queue", "attempt"}


def json_lines(worker: WorkerProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in worker.log().splitlines() if line.strip()]


def test_task_lines_carry_the_task_in_json(
    app: Conveyor, sink: SinkFile, store_url: str, tmp_path: Path
) -> None:
    app.queue("default", min_backoff=0.01, max_backoff=0.01)
    done = app.enqueue("run", ["fine"])
    broken = app.enqueue("explode", ["bad"], max_attempts=2)
    worker = WorkerProcess(
        store_url, sink, tmp_path / "worker.log", ["--log-format=json", "--lease=5"]
    )
    try:
        wait_until(
            lambda: app.get(broken.id).status is Status.FAILED, timeout=30, message="the failure"
        )
        assert done.wait(timeout=10) is not None
        worker.signal(signal.SIGTERM)
        assert worker.wait(10) == 0
    finally:
        worker.kill()

    lines = json_lines(worker)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about_tasks = [line for line in lines if line["message"].startswith("task ")]
    by_message = {
        (line["message"].split(",")[0].split(":")[0], line["task_id"]) for line in about_tasks
    }
    assert ("task started", done.id) in by_message
    assert ("task completed", done.id) in by_message
    assert ("task failed", broken.id) in by_message
    assert ("task failed for good", broken.id) in by_message
    for line in about_tasks:
        assert set(line) >= TASK_KEYS, line
        task = app.get(line["task_id"])
        assert (line["task_name"], line["queue"]) == (task.name, task.queue)
    attempts = sorted(
        line["attempt"]
        for line in about_tasks
        if line["task_id"] == broken.id and line["message"].startswith("task failed")
    )
    assert attempts == [1, 2]
