"""The Store protocol: every state transition of a task, each one transaction.

Methods are batch-shaped (lists in, lists out) so a worker can acknowledge many
attempts in one round trip. Every worker write carries the lease token; a write with a
stale token is refused by leaving that task out of the returned list, never by raising.

Time-dependent methods take an optional `now` (seconds since the epoch) for tests; by
default the store's own clock decides.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from conveyor.core.cron import ScheduleSpec
from conveyor.core.queue import QueueSettings
from conveyor.core.tallies import ProcessingTimes, QueueTotals
from conveyor.core.task import Claimed, Completion, Failure, Lease, NewTask, Status, Task
from conveyor.core.workers import NewWorker, WorkerInfo
from conveyor.core.workflow import WorkflowView


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The receipt of one enqueued task: what a producer needs, not the whole row.

    A bulk enqueue hands back one receipt per task, so it carries no arguments to decode;
    `Store.get(id)` reads the whole task when it is wanted.
    """

    id: str
    created: bool
    """False when an earlier task with the same idempotency key was returned instead."""
    status: Status
    """As shown at enqueue: waiting, queued or scheduled; the holder's state when not created."""
    created_at: datetime
    """When the task (the holder, when not created) was stored, by the store's clock."""


@dataclass(frozen=True, slots=True)
class TaskFilter:
    queue: str | None = None
    status: Status | None = None
    name: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    tasks: list[Task]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    counts: dict[str, int] = field(default_factory=dict)
    oldest_queued_age: float | None = None
    """Seconds since the oldest claimable task became due; None when nothing waits."""


@dataclass(frozen=True, slots=True)
class QueueActivity:
    """Tasks of one queue that finished in a recent window, for the dashboard's charts.

    `completed[i]` and `failed[i]` count the tasks that finished in bucket `i` of the
    window, oldest bucket first. The percentiles are nearest-rank over the processing
    seconds (`finished_at - started_at`) of the completed ones; None when none completed.
    """

    queue: str
    completed: list[int]
    failed: list[int]
    p50_seconds: float | None = None
    p95_seconds: float | None = None


class Store(Protocol):
    """What every backend provides. See `tests/store/` for the contract."""

    url: str

    def migrate(self) -> list[int]:
        """Apply pending schema migrations; return the versions applied."""
        ...

    def now(self) -> datetime: ...

    def enqueue(self, tasks: Sequence[NewTask], *, connection: Any = None) -> list[Enqueued]:
        """Store all tasks atomically, in order; dedup on (queue, idempotency_key).

        Tasks with `parents` wait for those earlier tasks of the batch (a workflow).
        With `connection` (the caller's own sqlite3 or psycopg connection, on the same
        database) the tasks are written in the caller's open transaction: they exist
        only if it commits.
        """
        ...

    def claim(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        lease_seconds: float,
        now: float | None = None,
    ) -> list[Claimed]:
        """Lease up to `limit` due tasks, highest priority then oldest first."""
        ...

    def heartbeat(
        self, leases: Sequence[Lease], lease_seconds: float, now: float | None = None
    ) -> list[str]:
        """Extend leases; return the ids whose lease is still held."""
        ...

    def complete(self, completions: Sequence[Completion], now: float | None = None) -> list[str]:
        """Finish attempts successfully; return the ids accepted."""
        ...

    def fail(self, failures: Sequence[Failure], now: float | None = None) -> list[str]:
        """Record failed attempts: retry after the delay, or fail for good; ids accepted."""
        ...

    def release(self, leases: Sequence[Lease], now: float | None = None) -> list[str]:
        """Give tasks back unrun (graceful shutdown); the attempt does not count."""
        ...

    def cancel(self, task_ids: Sequence[str], now: float | None = None) -> list[str]:
        """Cancel unfinished tasks; return the ids cancelled."""
        ...

    def get(self, task_id: str) -> Task | None: ...

    def list(self, filter: TaskFilter, limit: int = 50, cursor: str | None = None) -> Page:
        """Newest first, keyset-paginated: pass `next_cursor` back for the next page."""
        ...

    def stats(self, now: float | None = None) -> builtins.list[QueueStats]: ...

    def activity(
        self, window_seconds: float, bucket_seconds: float, now: float | None = None
    ) -> builtins.list[QueueActivity]:
        """Per queue, the tasks that finished in the last `window_seconds`, counted per
        bucket of `bucket_seconds`, with processing-time percentiles; by queue name."""
        ...

    def workflow(self, workflow_id: str) -> WorkflowView | None:
        """A workflow's members and edges; None when no member is stored."""
        ...

    def workflow_counts(self, workflow_id: str, now: float | None = None) -> dict[str, int]:
        """A workflow's members by shown state (scheduled split out of queued)."""

    def totals(self) -> builtins.list[QueueTotals]:
        """Per queue, totals that only grow: enqueued, completed, failed, failed attempts."""
        ...

    def processing_times(
        self, window_seconds: float, buckets: Sequence[float], now: float | None = None
    ) -> builtins.list[ProcessingTimes]:
        """How long tasks that finished in the last `window_seconds` ran, bucketed."""
        ...

    def reap_expired(self, now: float | None = None, limit: int = 1000) -> int:
        """Expired leases go back to queued, or to failed when attempts are used up."""
        ...

    def prune(
        self,
        completed_seconds: float,
        failed_seconds: float,
        now: float | None = None,
        limit: int = 1000,
    ) -> int:
        """Delete up to `limit` finished tasks older than their retention."""
        ...

    def replay(
        self,
        task_ids: Sequence[str] | None = None,
        queue: str | None = None,
        now: float | None = None,
    ) -> builtins.list[str]:
        """Failed (dead-letter) tasks back to queued with fresh attempts."""
        ...

    def purge(self, task_ids: Sequence[str] | None = None, queue: str | None = None) -> int:
        """Delete failed (dead-letter) tasks."""
        ...

    def acquire_duty(
        self, name: str, holder: str, ttl_seconds: float, now: float | None = None
    ) -> bool:
        """Take or renew the lease on a leader duty; True when `holder` holds it."""
        ...

    def seconds_until_due(self, queues: Sequence[str], now: float | None = None) -> float | None:
        """Seconds until the next queued task of these queues is due (0 if one is)."""
        ...

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Block until new work may be there or `timeout` passes; True when woken early."""
        ...

    def get_queue(self, name: str) -> QueueSettings:
        """The queue's settings; the defaults when none were stored."""
        ...

    def set_queue(self, settings: QueueSettings) -> None: ...

    def list_queues(self) -> builtins.list[QueueSettings]:
        """Every queue with stored settings, by name."""
        ...

    def set_schedules(self, schedules: Sequence[ScheduleSpec]) -> None:
        """Store schedules in one transaction, replacing those of the same names."""
        ...

    def delete_schedules(self, names: Sequence[str]) -> builtins.list[str]:
        """Remove stored schedules; return the names that were there."""
        ...

    def list_schedules(self) -> builtins.list[ScheduleSpec]:
        """Every stored schedule, by name."""

    def register_worker(self, worker: NewWorker, now: float | None = None) -> None:
        """Add a running worker to the registry (again, if it was there: it runs anew)."""
        ...

    def heartbeat_worker(self, worker_id: str, in_flight: int, now: float | None = None) -> bool:
        """Record a live worker's beat; False when it is not registered (pruned, stopped)."""
        ...

    def deregister_worker(self, worker_id: str, now: float | None = None) -> None:
        """Mark a worker stopped: it stopped gracefully and is not dead."""
        ...

    def list_workers(self, now: float | None = None) -> builtins.list[WorkerInfo]:
        """Every registered worker, oldest first, alive or dead at the store's clock."""
        ...

    def prune_workers(self, retention_seconds: float, now: float | None = None) -> int:
        """Delete workers stopped or last seen more than `retention_seconds` ago."""
        ...

    def close(self) -> None: ...
