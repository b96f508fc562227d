"""What the overview shows per queue, computed from the client's reads without I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from conveyor.app import QueueInfo
from conveyor.dashboard.sparkline import Sparkline, sparkline

WINDOW_SECONDS = 3600.0
BUCKET_SECONDS = 300.0
STATES = ("waiting", "queued", "scheduled", "running", "completed", "failed", "cancelled")


class Activity(Protocol):
    """The shape of `Conveyor.activity()` entries (the store's QueueActivity)."""

    @property
    def queue(self) -> str: ...
    @property
    def completed(self) -> list[int]: ...
    @property
    def failed(self) -> list[int]: ...
    @property
    def p50_seconds(self) -> float | None: ...
    @property
    def p95_seconds(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class QueueRow:
    info: QueueInfo
    finished: int
    """Tasks that completed or failed in the window."""
    per_minute: float
    failure_rate: float | None
    """Failed among finished, 0..1; None when nothing finished."""
    p50_seconds: float | None
    p95_seconds: float | None
    chart: Sparkline

    @property
    def name(self) -> str:
        return self.info.name


def queue_rows(queues: Sequence[QueueInfo], activity: Sequence[Activity]) -> list[QueueRow]:
    by_queue = {a.queue: a for a in activity}
    buckets = round(WINDOW_SECONDS / BUCKET_SECONDS)
    names = sorted({q.name for q in queues})
    infos = {q.name: q for q in queues}
    return [_row(infos[name], by_queue.get(name), buckets) for name in names]


def _row(info: QueueInfo, activity: Activity | None, buckets: int) -> QueueRow:
    completed = activity.completed if activity else [0] * buckets
    failed = activity.failed if activity else [0] * buckets
    done, lost = sum(completed), sum(failed)
    finished = done + lost
    return QueueRow(
        info=info,
        finished=finished,
        per_minute=finished / (WINDOW_SECONDS / 60),
        failure_rate=lost / finished if finished else None,
        p50_seconds=activity.p50_seconds if activity else None,
        p95_seconds=activity.p95_seconds if activity else None,
        chart=sparkline(completed, failed),
    )
