"""A worker process survives tasks it cannot run and goes on to the next one."""

from __future__ import annotations

import subprocess

import pytest

from conveyor import Conveyor, Status, TaskFailed
from tests.apps.sink import SinkFile
from tests.crash.conftest import APP, CONVEYOR, ROOT, StartWorker


def test_unknown_task_fails_and_the_worker_process_runs_the_next_one(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    worker = start_worker(concurrency=1)
    unknown = app.enqueue("not_registered_anywhere", [1], kwargs={"x": 2})
    after = app.enqueue("run", ["after"])

    with pytest.raises(TaskFailed, match="not_registered_anywhere"):
        unknown.wait(timeout=20)
    task = app.get(unknown.id)
    assert task.status is Status.FAILED
    assert task.attempts == 1
    assert "no task named 'not_registered_anywhere' is registered" in task.errors[0]["error"]
    assert worker.owns(task.errors[0]["worker_id"])
    assert after.wait(timeout=20)["key"] == "after"
    assert worker.alive()


def test_failing_and_overrunning_tasks_leave_the_worker_process_running(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    worker = start_worker(concurrency=2)
    bad = [
        app.enqueue("explode", ["e"]),
        app.enqueue("not_json", ["j"]),
        app.enqueue("overrun", ["o"]),
        app.enqueue("overrun_sync", ["s", sink.gate()]),
    ]
    for handle in bad:
        with pytest.raises(TaskFailed):
            handle.wait(timeout=20)
    assert app.enqueue("arun", ["after"]).wait(timeout=20)["key"] == "after"
    assert worker.alive()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense://x", "unknown scheme 'nonsense'"),
        ("sqlite://host/x.db", "three slashes"),
    ],
)
def test_worker_with_a_bad_url_exits_1_with_a_clear_error(url: str, message: str) -> None:
    done = subprocess.run(
        [CONVEYOR, "worker", APP, "--url", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    err = " ".join(done.stderr.split())  # rich wraps long lines
    assert message in err
    assert "Traceback" not in err
