"""Inspect a workflow (or a batch from `app.map`): every member with its status."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from conveyor.api.auth import require
from conveyor.api.deps import App, TaskId
from conveyor.api.schemas import WorkflowOut
from conveyor.redacted import shown_workflow

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])


@router.get("/{workflow_id}", response_model=WorkflowOut, dependencies=[Depends(require("read"))])
def get_workflow(workflow_id: TaskId, app: App) -> WorkflowOut:
    """Members in enqueue order, each with the ids of the parents it waits for."""
    return WorkflowOut.of(shown_workflow(app, app.workflow(workflow_id)))
