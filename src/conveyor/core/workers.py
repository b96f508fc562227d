"""The worker registry's values: a worker as it announces itself, and as operators see it.

A worker registers when it starts, beats every `heartbeat_seconds` while it runs and is
marked stopped when it stops gracefully. One that stops beating (killed, frozen, cut off
from the store) is shown dead once `DEAD_AFTER_BEATS` beats are missed; the leases it
held expire and the reaper requeues its tasks as for any other lost lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

DEAD_AFTER_BEATS = 3
"""A worker that missed this many heartbeats in a row is shown dead."""


class WorkerState(StrEnum):
    ALIVE = "alive"
    DEAD = "dead"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class NewWorker:
    """What a worker tells the store when it registers."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    heartbeat_seconds: float


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A registered worker, seen at the store's clock."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    in_flight: int
    heartbeat_seconds: float
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    alive: bool
    """Running and heard from within `DEAD_AFTER_BEATS` heartbeats."""

    @property
    def state(self) -> WorkerState:
        if self.alive:
            return WorkerState.ALIVE
        return WorkerState.DEAD if self.stopped_at is None else WorkerState.STOPPED

    @property
    def dead_after_seconds(self) -> float:
        return DEAD_AFTER_BEATS * self.heartbeat_seconds
