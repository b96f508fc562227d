"""Dead letters: failed tasks of a queue, to inspect, replay or discard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from conveyor.api.auth import require
from conveyor.api.deps import App, Cursor, QueueName
from conveyor.api.errors import ApiError
from conveyor.api.schemas import Discarded, Replayed, ReplayIn, TaskOut, TaskPage
from conveyor.redacted import shown

router = APIRouter(prefix="/api/v1/queues/{name}/dead-letters", tags=["dead letters"])


@router.get("", response_model=TaskPage, dependencies=[Depends(require("read"))])
def list_dead_letters(
    name: QueueName,
    app: App,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Cursor = None,
) -> TaskPage:
    page = app.list_tasks(queue=name, status="failed", limit=limit, cursor=cursor)
    tasks = [TaskOut.of(t) for t in shown(app, page.tasks)]
    return TaskPage(tasks=tasks, next_cursor=page.next_cursor)


@router.post("/replay", response_model=Replayed, dependencies=[Depends(require("admin"))])
def replay(name: QueueName, body: ReplayIn, app: App) -> Replayed:
    """Back to the queue with fresh attempts: the ids given, or all with `all: true`."""
    replayed = app.replay(body.task_ids, queue=name)
    missing = set(body.task_ids or ()) - set(replayed)
    if missing:
        raise ApiError(
            404 if len(missing) == len(body.task_ids or ()) else 409,
            "not_dead_letters",
            f"not failed tasks of queue {name!r}: {', '.join(sorted(missing))}",
            {"replayed": replayed, "missing": sorted(missing)},
        )
    return Replayed(task_ids=replayed)


@router.post("/discard", response_model=Discarded, dependencies=[Depends(require("admin"))])
def discard(name: QueueName, body: ReplayIn, app: App) -> Discarded:
    """Delete dead letters: the ids given, or all with `all: true`."""
    return Discarded(discarded=app.purge(body.task_ids, queue=name))
