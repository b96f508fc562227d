"""Queues: counts by state, age of the oldest due task, settings, pause and resume."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from conveyor.api.auth import require
from conveyor.api.deps import App, QueueName
from conveyor.api.schemas import QueueList, QueueOut, QueueSettingsIn, QueueSettingsOut
from conveyor.app import Conveyor, QueueInfo

router = APIRouter(prefix="/api/v1/queues", tags=["queues"])


def _out(info: QueueInfo) -> QueueOut:
    return QueueOut(
        name=info.name,
        counts=info.counts,
        oldest_queued_age_seconds=info.oldest_queued_age,
        paused=info.paused,
        settings=QueueSettingsOut.of(info.settings),
    )


def _queue_out(app: Conveyor, name: str) -> QueueOut:
    return _out(app.queue_info(name))


@router.get("", response_model=QueueList, dependencies=[Depends(require("read"))])
def list_queues(app: App) -> QueueList:
    return QueueList(queues=[_out(q) for q in app.queues()])


@router.get("/{name}", response_model=QueueOut, dependencies=[Depends(require("read"))])
def get_queue(name: QueueName, app: App) -> QueueOut:
    return _queue_out(app, name)


@router.patch("/{name}", response_model=QueueOut, dependencies=[Depends(require("admin"))])
def update_queue(name: QueueName, body: QueueSettingsIn, app: App) -> QueueOut:
    """Change the queue's settings: fields given are set (`"rate": "50/s"`,
    `"age_limit": "2h"`), null clears one back to its default, the rest keep their values."""
    changes = body.model_dump(exclude_unset=True)
    if changes:
        app.queue(name, **changes)
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
