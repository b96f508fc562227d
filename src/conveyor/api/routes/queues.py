"""Queues: counts by state, age of the oldest due task, pause and resume."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from conveyor.api.auth import require
from conveyor.api.deps import App
from conveyor.api.schemas import QueueList, QueueOut
from conveyor.app import Conveyor

router = APIRouter(prefix="/api/v1/queues", tags=["queues"])
QueueName = Annotated[str, Path(min_length=1, max_length=200)]


def _queue_out(app: Conveyor, name: str) -> QueueOut:
    info = app.queue_info(name)
    return QueueOut(
        name=info.name,
        counts=info.counts,
        oldest_queued_age_seconds=info.oldest_queued_age,
        paused=info.paused,
    )


@router.get("", response_model=QueueList, dependencies=[Depends(require("read"))])
def list_queues(app: App) -> QueueList:
    return QueueList(
        queues=[
            QueueOut(
                name=q.name,
                counts=q.counts,
                oldest_queued_age_seconds=q.oldest_queued_age,
                paused=q.paused,
            )
            for q in app.queues()
        ]
    )


@router.get("/{name}", response_model=QueueOut, dependencies=[Depends(require("read"))])
def get_queue(name: QueueName, app: App) -> QueueOut:
    return _queue_out(app, name)


@router.post("/{name}/pause", response_model=QueueOut, dependencies=[Depends(require("admin"))])
def pause(name: QueueName, app: App) -> QueueOut:
    """Stop handing out this queue's tasks; tasks already running finish."""
    app.pause(name)
    return _queue_out(app, name)


@router.post("/{name}/resume", response_model=QueueOut, dependencies=[Depends(require("admin"))])
def resume(name: QueueName, app: App) -> QueueOut:
    app.resume(name)
    return _queue_out(app, name)
