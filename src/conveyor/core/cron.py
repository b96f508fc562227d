"""Schedules: when a periodic task fires, and the key that makes each tick fire once.

Pure: no I/O, stdlib only. A cron expression is parsed outside core (``conveyor.schedules``)
and reaches this module as a `FireRule`, the one seam: `next_after` and `latest_at_or_before`.

Exactly once per tick rests on two lines of defence. The scheduler duty runs on one node at
a time (a lease in the store), and each tick is enqueued under `tick_key(name, fire_at)`, a
deterministic idempotency key, so a second node that acts anyway (an expired lease, a clock
step) only finds the task that is already there.

Misfires: a tick is *on time* while `now - fire_at < grace`; older unfired ticks are
*missed* (the nodes were down). `Misfire.ONCE` (the default) enqueues the newest missed tick
once, however many were missed; `Misfire.SKIP` drops them. On-time ticks always fire.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from conveyor.core.task import JSONValue, NewTask

__all__ = ["Every", "FireRule", "Misfire", "Schedule", "ScheduleSpec", "due_ticks", "tick_key"]


MIN_EVERY = 0.1
"""Seconds: the cron duty looks every 0.5 s, so shorter periods only bunch ticks up."""
MAX_EVERY = 366 * 86400.0


class Misfire(StrEnum):
    ONCE = "once"
    """Missed ticks collapse into one run, of the newest missed tick."""
    SKIP = "skip"
    """Missed ticks are dropped; only on-time ticks fire."""


class FireRule(Protocol):
    """When a schedule fires. Times are timezone-aware."""

    def next_after(self, after: datetime) -> datetime:
        """The first fire time strictly after `after`."""
        ...

    def latest_at_or_before(self, at: datetime) -> datetime:
        """The last fire time at or before `at`."""
        ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Every:
    """Fires every `seconds`, aligned to the Unix epoch so that every node agrees.

    >>> t = datetime(2026, 1, 1, 12, 0, 7, tzinfo=UTC)
    >>> Every(5).next_after(t).time()
    datetime.time(12, 0, 10)
    >>> Every(5).latest_at_or_before(t).time()
    datetime.time(12, 0, 5)
    >>> Every(5).next_after(Every(5).latest_at_or_before(t)).time()
    datetime.time(12, 0, 10)
    """

    seconds: float

    def __post_init__(self) -> None:
        if not (MIN_EVERY <= self.seconds <= MAX_EVERY):
            raise ValueError(
                f"every must be a number of seconds from {MIN_EVERY:g} to {MAX_EVERY:.0f}, "
                f"not {self.seconds!r}"
            )

    def latest_at_or_before(self, at: datetime) -> datetime:
        n = math.floor(at.timestamp() / self.seconds)
        return datetime.fromtimestamp(n * self.seconds, tz=UTC)

    def next_after(self, after: datetime) -> datetime:
        n = math.floor(after.timestamp() / self.seconds) + 1
        return datetime.fromtimestamp(n * self.seconds, tz=UTC)

    def describe(self) -> str:
        return f"every {self.seconds:g}s"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A periodic task: `template` is the task to enqueue at each tick of `rule`."""

    name: str
    rule: FireRule
    template: NewTask
    misfire: Misfire = Misfire.ONCE
    timezone: str = "UTC"

    @property
    def task(self) -> str:
        return self.template.name

    @property
    def queue(self) -> str:
        return self.template.queue

    def next_fire(self, after: datetime) -> datetime:
        """The first tick strictly after `after`."""
        return self.rule.next_after(after)

    def tick(self, fire_at: datetime) -> NewTask:
        """The task for one tick, carrying the tick's deterministic idempotency key."""
        return replace(self.template, idempotency_key=tick_key(self.name, fire_at))


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A schedule kept in the store (from a queue file or the HTTP API), not in code.

    Exactly one of `cron` (five fields, read in `timezone`) and `every` (seconds) is set.
    Every node's cron duty fires stored schedules next to those of its own app; the task
    is enqueued by name with the queue's defaults, so no node needs its code.
    """

    name: str
    task: str
    queue: str = "default"
    cron: str | None = None
    every: float | None = None
    timezone: str = "UTC"
    args: list[JSONValue] = field(default_factory=list)
    kwargs: dict[str, JSONValue] = field(default_factory=dict)
    misfire: Misfire = Misfire.ONCE


def tick_key(name: str, fire_at: datetime) -> str:
    """The idempotency key of one tick: the same on every node, for every clock zone.

    >>> tick_key("report", datetime(2026, 3, 29, 3, 0, tzinfo=UTC))
    'cron:report:2026-03-29T03:00:00Z'
    >>> from datetime import timezone
    >>> tick_key("report", datetime(2026, 3, 29, 3, 0, tzinfo=timezone(timedelta(hours=2))))
    'cron:report:2026-03-29T01:00:00Z'
    """
    utc = fire_at.astimezone(UTC)
    stamp = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        stamp += f".{utc.microsecond:06d}"
    return f"cron:{name}:{stamp}Z"


def due_ticks(
    rule: FireRule,
    last_fired: datetime | None,
    now: datetime,
    misfire: Misfire = Misfire.ONCE,
    grace: float = 2.0,
) -> list[datetime]:
    """Ticks to fire at `now`, oldest first, given that every tick up to `last_fired` fired.

    `last_fired=None` means nothing is known (a fresh node): ticks within `grace` fire, and
    under ONCE the newest older one too (the idempotency key drops it if it already ran).

    >>> at = lambda s: datetime(2026, 1, 1, 12, 0, s, tzinfo=UTC)
    >>> [t.second for t in due_ticks(Every(1), at(10), at(12))]
    [11, 12]
    >>> [t.second for t in due_ticks(Every(1), at(0), at(50), Misfire.ONCE, grace=2)]
    [48, 49, 50]
    >>> [t.second for t in due_ticks(Every(1), at(0), at(50), Misfire.SKIP, grace=2)]
    [49, 50]
    """
    floor = now - timedelta(seconds=grace)
    ticks: list[datetime] = []
    start = last_fired
    if last_fired is None or last_fired < floor:
        start = floor
        if misfire is Misfire.ONCE:
            missed = rule.latest_at_or_before(floor)
            if last_fired is None or missed > last_fired:
                ticks.append(missed)
    assert start is not None
    tick = rule.next_after(start)
    while tick <= now:
        ticks.append(tick)
        tick = rule.next_after(tick)
    return ticks
