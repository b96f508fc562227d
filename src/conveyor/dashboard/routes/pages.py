"""Pages that show: overview, queue, task list, task, dead letters, schedules, workers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from conveyor.core.task import Task
from conveyor.dashboard.context import Reading, Refusal
from conveyor.dashboard.views import STATES, queue_rows
from conveyor.dashboard.workflow_graph import LARGEST_DRAWN, Graph, graph_around
from conveyor.errors import ConfigurationError, TaskNotFound
from conveyor.redacted import shown_page, shown_task, shown_workflow

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
Text = Annotated[str, Query(max_length=200)]


@router.get("/")
def overview(seen: Reading) -> Response:
    app = seen.app
    rows = queue_rows(app.queues(), seen.dashboard.activity.get())
    return seen.page("overview.html", nav="overview", rows=rows, states=STATES, live=True)


@router.get("/queues/{name}")
def queue(seen: Reading, name: str, state: Text = "") -> Response:
    app = seen.app
    info = app.queue_info(name)
    try:
        page = shown_page(app, app.list_tasks(queue=name, status=state or None, limit=25))
    except ConfigurationError as exc:
        raise Refusal(422, str(exc)) from None
    return seen.page(
        "queue.html", nav="overview", info=info, state=state, page=page, states=STATES, live=True
    )


@router.get("/tasks")
def tasks(
    seen: Reading,
    queue: Text = "",
    state: Text = "",
    type: Text = "",
    find: Text = "",
    cursor: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    app = seen.app
    find = find.strip()
    if find:
        found = _found(seen, find, queue)
        if found is not None:
            return seen.redirect(f"/tasks/{found}")
    error = None
    try:
        page = app.list_tasks(
            queue=queue or None,
            status=state or None,
            name=type or None,
            idempotency_key=find or None,
            limit=PAGE_SIZE,
            cursor=cursor or None,
        )
        page = shown_page(app, page)
    except ConfigurationError as exc:
        page, error = None, str(exc)
    filters = {"queue": queue, "state": state, "type": type, "find": find}
    return seen.page(
        "tasks.html",
        status=422 if error else 200,
        nav="tasks",
        page=page,
        error=error,
        filters=filters,
        queues=[q.name for q in app.queues()],
        states=STATES,
        live=not cursor,
    )


def _found(seen: Reading, find: str, queue: str) -> str | None:
    """The one task `find` names, by id or else by idempotency key; None if not one."""
    try:
        return seen.app.get(find).id
    except TaskNotFound:
        pass
    matches = seen.app.list_tasks(queue=queue or None, idempotency_key=find, limit=2).tasks
    return matches[0].id if len(matches) == 1 else None


@router.get("/tasks/{task_id}")
def task(seen: Reading, task_id: str) -> Response:
    try:
        found = shown_task(seen.app, seen.app.get(task_id))
    except TaskNotFound as exc:
        raise Refusal(404, str(exc)) from None
    graph, counts = _workflow_of(seen, found)
    return seen.page(
        "task.html",
        nav="tasks",
        task=found,
        graph=graph,
        workflow_counts=counts,
        live=not found.status.finished,
    )


def _workflow_of(seen: Reading, task: Task) -> tuple[Graph | None, dict[str, int]]:
    """The graph around a workflow member, or only the counts of a large workflow."""
    if task.workflow_id is None:
        return None, {}
    counts = seen.app.workflow_counts(task.workflow_id)
    if sum(counts.values()) > LARGEST_DRAWN:
        return None, counts
    try:
        view = shown_workflow(seen.app, seen.app.workflow(task.workflow_id))
    except TaskNotFound:
        return None, counts  # pruned between the two reads
    return graph_around(view, task.id), counts


@router.get("/dead-letters")
def dead_letters(
    seen: Reading,
    queue: Text = "",
    cursor: Annotated[str, Query(max_length=20)] = "",
    done: Annotated[str, Query(pattern="^(|replayed|discarded)$")] = "",
    n: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    app = seen.app
    try:
        page = shown_page(
            app,
            app.list_tasks(
                queue=queue or None, status="failed", limit=PAGE_SIZE, cursor=cursor or None
            ),
        )
    except ConfigurationError as exc:
        raise Refusal(422, str(exc)) from None
    return seen.page(
        "dead_letters.html",
        nav="dead-letters",
        page=page,
        queue=queue,
        queues=[q.name for q in app.queues()],
        done=done,
        n=n,
    )


@router.get("/schedules")
def schedules(seen: Reading) -> Response:
    return seen.page("schedules.html", nav="schedules", schedules=seen.app.schedules(), live=True)


@router.get("/workers")
def workers(seen: Reading) -> Response:
    return seen.page("workers.html", nav="workers", workers=seen.app.workers(), live=True)
