"""One attempt from claim to outcome: handlers, results, retries, timeouts, bad tasks."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from conveyor import Conveyor, Status, TaskFailed
from conveyor.worker.runtime import IDLE_WAIT_SECONDS
from tests.apps.sink import SinkFile
from tests.waiting import wait_until
from tests.worker.conftest import LOOP_THREAD, StartWorker


def test_async_handler_runs_on_the_loop_and_sync_handler_in_a_thread(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker()
    on_loop = app.enqueue("arun", ["a"])
    in_thread = app.enqueue("run", ["s"])

    assert on_loop.wait(timeout=10) == {"key": "a", "thread": LOOP_THREAD}
    result = in_thread.wait(timeout=10)
    assert result["key"] == "s"
    assert result["thread"].startswith("conveyor-task")
    for handle in (on_loop, in_thread):
        task = app.get(handle.id)
        assert task.status is Status.COMPLETED
        assert task.attempts == 1
        assert task.errors == []
    assert app.get(in_thread.id).result == result
    assert app.get(on_loop.id).result == {"key": "a", "thread": LOOP_THREAD}
    assert sink.run_counts() == {"a": 1, "s": 1}


def test_failing_task_is_retried_per_policy_and_fails_with_one_error_per_attempt(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker()
    handle = app.enqueue("explode", ["x"])

    with pytest.raises(TaskFailed, match="boom x") as raised:
        handle.wait(timeout=10)

    assert raised.value.task_id == handle.id
    task = app.get(handle.id)
    assert task.status is Status.FAILED
    assert task.attempts == 3
    assert [e["attempt"] for e in task.errors] == [1, 2, 3]
    for entry in task.errors:
        assert entry["error"] == "RuntimeError: boom x"
        assert entry["traceback"].startswith("Traceback (most recent call last)")
        assert "RuntimeError: boom x" in entry["traceback"]
        assert entry["worker_id"]
    assert len(sink.runs("x")) == 3


def test_retry_runs_when_its_backoff_ends_not_at_the_next_idle_poll(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    # The backoff is 0.05 to 0.1 s. A worker that only noticed the retry on its next
    # idle poll (IDLE_WAIT_SECONDS, 1 s) would space the attempts a second apart.
    start_worker()
    handle = app.enqueue("explode", ["quick"])
    with pytest.raises(TaskFailed):
        handle.wait(timeout=10)

    stamps = [datetime.fromisoformat(e["at"]) for e in app.get(handle.id).errors]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert len(gaps) == 2
    assert max(gaps) < IDLE_WAIT_SECONDS * 0.8, f"retries waited for the idle poll: {gaps}"


def test_timeout_fails_the_attempt_and_the_worker_keeps_processing(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker(concurrency=2)
    slow = app.enqueue("overrun", ["slow"])
    stuck = app.enqueue("overrun_sync", ["stuck", sink.gate()])

    for handle in (slow, stuck):
        with pytest.raises(TaskFailed, match=r"timed out after 0\.3 seconds"):
            handle.wait(timeout=10)
        task = app.get(handle.id)
        assert task.attempts == 1
        assert task.errors[-1]["error"] == "timed out after 0.3 seconds"

    # Both slots served an overrunning task; the worker still takes new work.
    after = [app.enqueue("run", [f"after-{i}"]) for i in range(3)]
    for handle in after:
        assert handle.wait(timeout=10)["key"].startswith("after-")


def test_unknown_task_fails_with_an_error_naming_it_and_the_worker_keeps_running(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker()
    unknown = app.enqueue("no_such_task", ["x"])

    with pytest.raises(TaskFailed, match="no_such_task"):
        unknown.wait(timeout=10)
    task = app.get(unknown.id)
    assert task.status is Status.FAILED
    assert task.attempts == 1, "an unknown task is not retried: no worker here can run it"
    assert "no task named 'no_such_task' is registered" in task.errors[0]["error"]
    assert app.enqueue("run", ["next"]).wait(timeout=10)["key"] == "next"


def test_non_json_result_fails_with_a_message_naming_the_task(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker()
    handle = app.enqueue("not_json", ["k"])

    with pytest.raises(TaskFailed, match="not_json"):
        handle.wait(timeout=10)
    task = app.get(handle.id)
    assert task.status is Status.FAILED
    assert task.result is None
    error = task.errors[0]["error"]
    assert "the result of task 'not_json' is not JSON-serialisable" in error
    assert "set" in error
    assert app.enqueue("run", ["next"]).wait(timeout=10)["key"] == "next"


def test_wait_times_out_naming_the_task_when_no_worker_runs_it(app: Conveyor) -> None:
    handle = app.enqueue("run", ["nobody"])
    with pytest.raises(TimeoutError, match=handle.id):
        handle.wait(timeout=0.2)
    assert app.get(handle.id).status is Status.QUEUED


def test_every_task_of_a_batch_runs_once(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker
) -> None:
    start_worker(concurrency=8)
    handles = app.enqueue_many({"name": "arun", "args": [f"k{i}"]} for i in range(100))

    wait_until(
        lambda: all(app.get(h.id).status is Status.COMPLETED for h in handles),
        timeout=20,
        message="100 tasks completed",
    )
    assert sink.run_counts() == {f"k{i}": 1 for i in range(100)}
