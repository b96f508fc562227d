"""The pull protocol: workers in any language lease, heartbeat, complete and fail tasks.

Every call after the lease carries the lease token; a token that no longer holds the
task (the lease expired and another worker took it, or the task was cancelled) gets 409
with the task's current status, and changes nothing.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from conveyor.api.auth import require
from conveyor.api.deps import App, QueueName, TaskId, Wakeups
from conveyor.api.errors import ApiError
from conveyor.api.schemas import (
    Acknowledged,
    CompleteIn,
    FailIn,
    HeartbeatIn,
    Leased,
    LeasedTask,
    LeaseIn,
)
from conveyor.app import Conveyor

router = APIRouter(tags=["pull protocol"], dependencies=[Depends(require("work"))])


@router.post("/api/v1/queues/{name}/lease", response_model=Leased)
async def lease(name: QueueName, body: LeaseIn, app: App, wakeups: Wakeups) -> Leased:
    """Lease up to `max` due tasks, waiting up to `wait_seconds` for one to arrive."""
    deadline = time.monotonic() + body.wait_seconds
    while True:
        claimed = await run_in_threadpool(
            app.lease, name, body.max, body.worker_id, body.lease_seconds
        )
        remaining = deadline - time.monotonic()
        if claimed or remaining <= 0 or wakeups.closed:
            return Leased(tasks=[LeasedTask.of(c) for c in claimed])
        await wakeups.wait(name, min(remaining, 1.0))


@router.post("/api/v1/tasks/{task_id}/heartbeat", response_model=Acknowledged)
def heartbeat(task_id: TaskId, body: HeartbeatIn, app: App) -> Acknowledged:
    """Extend the lease of a task being worked on."""
    if not app.heartbeat(task_id, int(body.token), body.lease_seconds):
        _stale(app, task_id)
    return Acknowledged(task_id=task_id, status="running")


@router.post("/api/v1/tasks/{task_id}/complete", response_model=Acknowledged)
def complete(task_id: TaskId, body: CompleteIn, app: App) -> Acknowledged:
    """Report success; `result` is stored as the task's result."""
    if not app.complete(task_id, int(body.token), body.result):
        _stale(app, task_id)
    return Acknowledged(task_id=task_id, status="completed")


@router.post("/api/v1/tasks/{task_id}/fail", response_model=Acknowledged)
def fail(task_id: TaskId, body: FailIn, app: App) -> Acknowledged:
    """Report a failed attempt: retried per the task's policy unless `retry` is false."""
    if not app.fail(task_id, int(body.token), body.error, body.traceback, body.retry):
        _stale(app, task_id)
    status = app.get(task_id).status
    return Acknowledged(task_id=task_id, status=status.value)


def _stale(app: Conveyor, task_id: str) -> None:
    status = app.get(task_id).status
    raise ApiError(
        409,
        "stale_lease",
        f"task {task_id} is not held by this token (it is {status})",
        {"status": status.value},
    )
