"""The wire format (v1): the only place the JSON shapes are defined.

HTTP says `type` and `payload` where Python says task `name` and keyword arguments; the
mapping happens here and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conveyor.core.task import Claimed, Task

PriorityName = Literal["high", "normal", "low"]
StatusName = Literal[
    "waiting", "queued", "scheduled", "running", "completed", "failed", "cancelled"
]
Name = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskIn(Strict):
    type: str = Field(min_length=1, max_length=200, description="The task's name.")
    payload: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the handler."
    )
    args: list[Any] = Field(default_factory=list, description="Positional arguments, if any.")
    priority: PriorityName | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    queue: str | None = Field(default=None, min_length=1, max_length=200)
    delay_seconds: float | None = Field(default=None, ge=0, le=366 * 86400)
    scheduled_at: datetime | None = None
    max_attempts: int | None = Field(default=None, ge=1, le=1000)
    timeout_seconds: float | None = Field(default=None, gt=0, le=86400)

    @model_validator(mode="after")
    def _one_schedule(self) -> TaskIn:
        if self.delay_seconds and self.scheduled_at is not None:
            raise ValueError("give delay_seconds or scheduled_at, not both")
        if self.scheduled_at is not None and self.scheduled_at.tzinfo is None:
            self.scheduled_at = self.scheduled_at.replace(tzinfo=UTC)
        return self


class BatchIn(Strict):
    tasks: list[TaskIn] = Field(min_length=1, max_length=1000)


class TaskAccepted(BaseModel):
    task_id: str
    status: StatusName
    created_at: datetime

    @classmethod
    def of(cls, task: Task) -> TaskAccepted:
        return cls(task_id=task.id, status=task.status.value, created_at=task.created_at)


class BatchAccepted(BaseModel):
    tasks: list[TaskAccepted]


class TaskOut(BaseModel):
    task_id: str
    type: str
    queue: str
    status: StatusName
    priority: PriorityName
    attempts: int
    max_attempts: int
    payload: dict[str, Any]
    args: list[Any]
    result: Any
    errors: list[dict[str, Any]]
    idempotency_key: str | None
    created_at: datetime
    scheduled_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls(
            task_id=task.id,
            type=task.name,
            queue=task.queue,
            status=task.status.value,
            priority=str(task.priority),  # type: ignore[arg-type]
            attempts=task.attempts,
            max_attempts=task.max_attempts,
            payload=task.kwargs,
            args=task.args,
            result=task.result,
            errors=task.errors,
            idempotency_key=task.idempotency_key,
            created_at=task.created_at,
            scheduled_at=task.run_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
        )


class TaskPage(BaseModel):
    tasks: list[TaskOut]
    next_cursor: str | None


class Cancelled(BaseModel):
    task_id: str
    status: StatusName


class QueueOut(BaseModel):
    name: str
    counts: dict[str, int]
    oldest_queued_age_seconds: float | None
    paused: bool


class QueueList(BaseModel):
    queues: list[QueueOut]


class ReplayIn(Strict):
    task_ids: list[str] | None = Field(default=None, max_length=1000)
    all: bool = False

    @model_validator(mode="after")
    def _ids_or_all(self) -> ReplayIn:
        if (self.task_ids is None) == (not self.all):
            raise ValueError("give task_ids or all=true (one of them)")
        return self


class Replayed(BaseModel):
    task_ids: list[str]


class Discarded(BaseModel):
    discarded: int


class LeaseIn(Strict):
    max: int = Field(default=1, ge=1, le=100)
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    wait_seconds: float = Field(default=0.0, ge=0, le=30)
    worker_id: str = Field(default="http-worker", min_length=1, max_length=200)


class LeasedTask(BaseModel):
    task_id: str
    type: str
    queue: str
    payload: dict[str, Any]
    args: list[Any]
    token: str
    attempt: int
    max_attempts: int
    lease_expires_at: datetime | None
    timeout_seconds: float | None

    @classmethod
    def of(cls, claimed: Claimed) -> LeasedTask:
        task = claimed.task
        return cls(
            task_id=task.id,
            type=task.name,
            queue=task.queue,
            payload=task.kwargs,
            args=task.args,
            token=str(claimed.lease.token),
            attempt=task.attempts,
            max_attempts=task.max_attempts,
            lease_expires_at=task.lease_expires_at,
            timeout_seconds=task.timeout,
        )


class Leased(BaseModel):
    tasks: list[LeasedTask]


Token = Field(min_length=1, max_length=40, pattern=r"^[0-9]+$")


class HeartbeatIn(Strict):
    token: str = Token
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)


class CompleteIn(Strict):
    token: str = Token
    result: Any = None


class FailIn(Strict):
    token: str = Token
    error: str = Field(min_length=1, max_length=10_000)
    traceback: str = Field(default="", max_length=100_000)
    retry: bool = True


class Acknowledged(BaseModel):
    task_id: str
    status: StatusName


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None


def now_utc() -> datetime:
    return datetime.now(UTC)
