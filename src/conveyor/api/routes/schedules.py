"""Schedules: the app's periodic tasks and when each runs next (read only)."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, Depends

from conveyor.api.auth import require
from conveyor.api.deps import App
from conveyor.api.schemas import ScheduleList, ScheduleOut
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
    )


@router.get("", response_model=ScheduleList, dependencies=[Depends(require("read"))])
def list_schedules(app: App) -> ScheduleList:
    return ScheduleList(schedules=[_out(i) for i in app.schedules()])
