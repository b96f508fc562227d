"""Tasks as values: what is stored, what a worker holds, and what an attempt leaves behind.

`Task` is frozen: the store is the only place a task changes. `Status.SCHEDULED` is never
stored; it is how a `queued` task whose `run_at` lies in the future is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from conveyor.errors import ConfigurationError

JSONValue = Any
"""A value that survives `json.dumps` and `json.loads` unchanged."""


class Status(StrEnum):
    WAITING = "waiting"
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class ParentFailure(StrEnum):
    """What a workflow member does when one of its parents fails for good or is cancelled."""

    CANCEL = "cancel"
    RUN = "run"
    """Run anyway once every parent finished; a failed parent's result is None."""


class PassResults(StrEnum):
    """How a workflow member receives its parents' results, as its first argument."""

    ONE = "one"
    """The single parent's result (a chain link)."""
    ALL = "all"
    """A list of every parent's result, in parent order (a chord callback)."""


class Priority(IntEnum):
    """Lower values are claimed first; the names are the public spelling."""

    HIGH = 0
    NORMAL = 1
    LOW = 2

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | Priority) -> Priority:
        """Accept a name or a member.

        >>> Priority.parse("high")
        <Priority.HIGH: 0>
        """
        if isinstance(value, Priority):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                pass
        raise ConfigurationError(f"priority {value!r} is not one of 'high', 'normal', 'low'")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3
    min_backoff: float = 1.0
    max_backoff: float = 3600.0
    max_doublings: int = 16


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task to be enqueued. `run_at=None` with `delay=0` means now, by the store's clock."""

    name: str
    queue: str = "default"
    args: list[JSONValue] = field(default_factory=list)
    kwargs: dict[str, JSONValue] = field(default_factory=dict)
    priority: Priority | None = None
    """None: the queue's default priority, else normal."""
    retry: RetryPolicy | None = None
    """None: the queue's retry policy, else the defaults. A task's own policy wins whole."""
    timeout: float | None = None
    delay: float = 0.0
    run_at: datetime | None = None
    idempotency_key: str | None = None
    group: str | None = None
    """Tasks of one group run one at a time, in enqueue order."""
    concurrency_key: str | None = None
    """Counted against the queue's `max_per_key`."""
    workflow_id: str | None = None
    parents: tuple[int, ...] = ()
    """Positions of earlier tasks of the same enqueue this one waits for."""
    pass_results: PassResults | None = None
    on_parent_failure: ParentFailure = ParentFailure.CANCEL


@dataclass(frozen=True, slots=True)
class AttemptError:
    """What one failed attempt left behind."""

    attempt: int
    error: str
    traceback: str = ""
    at: str = ""
    worker_id: str = ""

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "attempt": self.attempt,
            "error": self.error,
            "traceback": self.traceback,
            "at": self.at,
            "worker_id": self.worker_id,
        }


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    name: str
    queue: str
    status: Status
    priority: Priority
    args: list[JSONValue]
    kwargs: dict[str, JSONValue]
    attempts: int
    max_attempts: int
    retry: RetryPolicy
    timeout: float | None
    result: JSONValue
    errors: list[dict[str, JSONValue]]
    created_at: datetime
    run_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    idempotency_key: str | None
    worker_id: str | None
    lease_expires_at: datetime | None
    seq: int = 0
    group: str | None = None
    concurrency_key: str | None = None
    workflow_id: str | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to report on one claimed attempt; `token` fences out stale holders."""

    task_id: str
    token: int


@dataclass(frozen=True, slots=True)
class Claimed:
    """A task handed to a worker, with the lease that proves the worker holds it."""

    task: Task
    lease: Lease


@dataclass(frozen=True, slots=True)
class Completion:
    lease: Lease
    result: JSONValue = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt. `retry_delay=None` fails the task for good."""

    lease: Lease
    error: AttemptError
    retry_delay: float | None
