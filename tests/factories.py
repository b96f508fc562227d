"""Tasks in any state, reached through the store's own operations.

`new_task()` builds a `NewTask` with defaults a test can override. The state helpers
enqueue one task and drive it through claim, complete, fail or cancel, so a test starts
where it matters. Claiming takes the head of the task's queue, so the helpers check that
the claimed task is the one they enqueued; put a task into a state before enqueueing
others ahead of it in the same queue.
"""

from __future__ import annotations

import time
from typing import Any

from conveyor.core.task import (
    AttemptError,
    Claimed,
    Completion,
    Failure,
    NewTask,
    Status,
    Task,
)
from conveyor.store import Store

WORKER = "worker-1"
LEASE_SECONDS = 30.0


def later(seconds: float = 1.0) -> float:
    """A `now` for time-taking store calls that lies after every enqueue made so far."""
    return time.time() + seconds


def queued_and_due(task: Task | None, now: float) -> bool:
    """True when `task` waits in its queue and is due at `now`.

    `get` shows status by the store's real clock, so a task requeued at a `now` the test
    moved ahead is shown as scheduled until the real clock catches up.
    """
    return (
        task is not None
        and task.status in (Status.QUEUED, Status.SCHEDULED)
        and task.run_at.timestamp() <= now + 1e-3  # datetimes keep whole microseconds
    )


def new_task(**overrides: Any) -> NewTask:
    fields: dict[str, Any] = {"name": "job", "queue": "default"}
    fields.update(overrides)
    return NewTask(**fields)


def enqueued(store: Store, **overrides: Any) -> Task:
    [result] = store.enqueue([new_task(**overrides)])
    assert result.created, f"the factory's task was deduplicated into {result.id}"
    task = store.get(result.id)
    assert task is not None
    return task


def claimed(
    store: Store,
    *,
    worker_id: str = WORKER,
    lease_seconds: float = LEASE_SECONDS,
    now: float | None = None,
    **overrides: Any,
) -> Claimed:
    """Enqueue a task and claim it; it must be the next due task of its queue."""
    task = enqueued(store, **overrides)
    return claim_task(store, task, worker_id=worker_id, lease_seconds=lease_seconds, now=now)


def claim_task(
    store: Store,
    task: Task,
    *,
    worker_id: str = WORKER,
    lease_seconds: float = LEASE_SECONDS,
    now: float | None = None,
) -> Claimed:
    """Claim `task`, which must be the next due task of its queue."""
    got = store.claim([task.queue], 1, worker_id, lease_seconds, now=now)
    assert [c.task.id for c in got] == [task.id], (
        f"expected to claim task {task.id} of queue {task.queue!r}, got {got}"
    )
    return got[0]


def completed(store: Store, result: Any = None, now: float | None = None, **overrides: Any) -> Task:
    lease = claimed(store, now=now, **overrides).lease
    assert store.complete([Completion(lease, result)], now=now) == [lease.task_id]
    return _get(store, lease.task_id)


def attempt_error(attempt: int, error: str = "boom") -> AttemptError:
    return AttemptError(
        attempt=attempt,
        error=error,
        traceback=f'Traceback (most recent call last):\n  File "job.py"\n{error}',
        at="2030-01-01T00:00:00Z",
        worker_id=WORKER,
    )


def failed(store: Store, error: str = "boom", now: float | None = None, **overrides: Any) -> Task:
    """A task that failed for good after one attempt (a dead letter)."""
    lease = claimed(store, now=now, **overrides).lease
    failure = Failure(lease, attempt_error(1, error), retry_delay=None)
    assert store.fail([failure], now=now) == [lease.task_id]
    return _get(store, lease.task_id)


def cancelled(store: Store, now: float | None = None, **overrides: Any) -> Task:
    task = enqueued(store, **overrides)
    assert store.cancel([task.id], now=now) == [task.id]
    return _get(store, task.id)


def in_state(store: Store, status: Status, **overrides: Any) -> Task:
    """One task in `status`, reached the way a real task gets there."""
    if status is Status.SCHEDULED:
        return enqueued(store, delay=3600.0, **overrides)
    if status is Status.QUEUED:
        return enqueued(store, **overrides)
    if status is Status.RUNNING:
        return _get(store, claimed(store, **overrides).task.id)
    if status is Status.COMPLETED:
        return completed(store, **overrides)
    if status is Status.FAILED:
        return failed(store, **overrides)
    if status is Status.CANCELLED:
        return cancelled(store, **overrides)
    raise ValueError(f"the factories cannot reach status {status!r}")


def _get(store: Store, task_id: str) -> Task:
    task = store.get(task_id)
    assert task is not None, f"task {task_id} vanished from the store"
    return task
