"""Cron expressions as a core `FireRule`, parsed by croniter (core stays stdlib only).

Cron fields are read in the schedule's timezone, so "0 3 * * *" in Europe/Berlin fires at
03:00 Berlin time on both sides of a DST change; fire times are returned in that zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from conveyor.core.cron import Every, FireRule, Schedule, ScheduleSpec
from conveyor.core.task import NewTask
from conveyor.errors import ConfigurationError

if TYPE_CHECKING:
    from croniter import croniter

__all__ = ["CronRule", "schedule_of", "zone"]


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a ConfigurationError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown timezone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None


def _croniter() -> type[croniter]:
    # Imported on first use: croniter and dateutil take about 25 ms to import, and most
    # processes (every worker without a cron schedule) never read a cron expression.
    from croniter import croniter

    return croniter


@dataclass(frozen=True, slots=True)
class CronRule:
    """A five-field cron expression evaluated in `timezone`.

    >>> from datetime import UTC
    >>> rule = CronRule("*/5 * * * *")
    >>> rule.next_after(datetime(2026, 1, 1, 12, 3, tzinfo=UTC)).isoformat()
    '2026-01-01T12:05:00+00:00'
    """

    expression: str
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        zone(self.timezone)
        if not _croniter().is_valid(self.expression):
            raise ConfigurationError(
                f"invalid cron expression {self.expression!r}; "
                "expected five fields like '*/5 * * * *'"
            )

    def next_after(self, after: datetime) -> datetime:
        start = after.astimezone(zone(self.timezone))
        fire: datetime = _croniter()(self.expression, start).get_next(datetime)
        return fire

    def latest_at_or_before(self, at: datetime) -> datetime:
        # get_prev is strictly before its start; a microsecond later includes `at` itself.
        start = at.astimezone(zone(self.timezone)) + timedelta(microseconds=1)
        fire: datetime = _croniter()(self.expression, start).get_prev(datetime)
        return fire

    def describe(self) -> str:
        return f"cron {self.expression!r} ({self.timezone})"


def schedule_of(spec: ScheduleSpec) -> Schedule:
    """The schedule a stored spec describes; a ConfigurationError names what is wrong."""
    where = f"schedule {spec.name!r}"
    if not spec.name or not spec.task or not spec.queue:
        raise ConfigurationError(f"{where}: name, task and queue must be non-empty")
    if (spec.cron is None) == (spec.every is None):
        raise ConfigurationError(f"{where}: give exactly one of cron and every")
    rule: FireRule
    try:
        if spec.cron is not None:
            rule = CronRule(spec.cron, spec.timezone)
        else:
            zone(spec.timezone)
            rule = Every(float(spec.every or 0))
    except (ConfigurationError, ValueError) as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    template = NewTask(spec.task, spec.queue, list(spec.args), dict(spec.kwargs))
    return Schedule(spec.name, rule, template, spec.misfire, spec.timezone)
