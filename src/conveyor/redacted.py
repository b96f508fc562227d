"""Tasks as readers see them (the HTTP API and the dashboard): each queue's `secret_fields`
masked (see `conveyor.core.redaction` for the rule). Only the pull protocol's lease, which
hands a task to the worker that runs it, shows the real values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from conveyor.app import Conveyor
from conveyor.core.redaction import redact
from conveyor.core.task import Task
from conveyor.core.workflow import WorkflowView
from conveyor.store.base import Page


def shown(app: Conveyor, tasks: Iterable[Task]) -> list[Task]:
    """`tasks` with secret payload values masked; one settings read per queue."""
    secret: dict[str, tuple[str, ...]] = {}
    out = []
    for task in tasks:
        if task.queue not in secret:
            secret[task.queue] = app.queue_settings(task.queue).secret_fields
        out.append(redact(task, secret[task.queue]))
    return out


def shown_task(app: Conveyor, task: Task) -> Task:
    [masked] = shown(app, [task])
    return masked


def shown_workflow(app: Conveyor, view: WorkflowView) -> WorkflowView:
    return replace(view, tasks=shown(app, view.tasks))


def shown_page(app: Conveyor, page: Page) -> Page:
    return replace(page, tasks=shown(app, page.tasks))
