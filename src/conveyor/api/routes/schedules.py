"""Schedules: every periodic task (in code or stored) with its next run; stored ones
can be created, replaced and deleted here, so apps in any language can schedule."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, Depends, Response

from conveyor.api.auth import require
from conveyor.api.deps import App, TaskId
from conveyor.api.schemas import ScheduleIn, ScheduleList, ScheduleOut
from conveyor.app import ScheduleInfo
from conveyor.core.cron import Every, Misfire
from conveyor.schedules import CronRule

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])


def _out(info: ScheduleInfo) -> ScheduleOut:
    s = info.schedule
    every = s.rule.seconds if isinstance(s.rule, Every) else None
    return ScheduleOut(
        name=s.name,
        task=s.task,
        queue=s.queue,
        cron=s.rule.expression if isinstance(s.rule, CronRule) else None,
        every_seconds=every,
        timezone=s.timezone,
        misfire="skip" if s.misfire is Misfire.SKIP else "once",
        when=s.rule.describe(),
        next_run_at=info.next_run.astimezone(UTC),
        stored=info.stored,
        args=s.template.args,
        kwargs=s.template.kwargs,
    )


@router.get("", response_model=ScheduleList, dependencies=[Depends(require("read"))])
def list_schedules(app: App) -> ScheduleList:
    return ScheduleList(schedules=[_out(i) for i in app.schedules()])


@router.put("/{name}", response_model=ScheduleOut, dependencies=[Depends(require("admin"))])
def put_schedule(name: TaskId, body: ScheduleIn, app: App) -> ScheduleOut:
    """Store schedule `name`, replacing one of that name; every node's cron duty fires it."""
    info = app.set_schedule(
        name,
        body.task,
        cron=body.cron,
        every=body.every_seconds,
        timezone=body.timezone,
        queue=body.queue,
        args=body.args,
        kwargs=body.kwargs,
        misfire=body.misfire,
    )
    return _out(info)


@router.delete(
    "/{name}", status_code=204, response_class=Response, dependencies=[Depends(require("admin"))]
)
def delete_schedule(name: TaskId, app: App) -> Response:
    """Remove stored schedule `name`; 404 when none is stored under it."""
    app.delete_schedule(name)
    return Response(status_code=204)
