"""The wire format (v1): the only place the JSON shapes are defined.

HTTP says `type` and `payload` where Python says task `name` and keyword arguments; the
mapping happens here and nowhere else.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from conveyor.core.payload import MAX_DEPTH, fits, nesting
from conveyor.core.queue import QueueSettings
from conveyor.core.task import Claimed, Status, Task
from conveyor.core.workflow import WorkflowView
from conveyor.queue_yaml import LARGEST_WHOLE
from conveyor.tasks import TaskHandle

PriorityName = Literal["high", "normal", "low"]
StatusName = Literal[
    "waiting", "queued", "scheduled", "running", "completed", "failed", "cancelled"
]
Name = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")
NO_NUL = r"^[^\x00]*$"
"""Names, keys and ids may hold any character but NUL, which PostgreSQL cannot store."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
"""`scheduled_at` must lie in this range, so every backend can store and read it back."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskIn(Strict):
    type: str = Field(min_length=1, max_length=200, pattern=NO_NUL, description="The task's name.")
    payload: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the handler."
    )
    args: list[Any] = Field(default_factory=list, description="Positional arguments, if any.")
    priority: PriorityName | None = None
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255, pattern=NO_NUL)
    queue: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    delay_seconds: float | None = Field(default=None, ge=0, le=366 * 86400)
    scheduled_at: datetime | None = Field(
        default=None, description="When to run (UTC when no offset is given), 1970 to 9998."
    )
    max_attempts: int | None = Field(default=None, ge=1, le=1000)
    timeout_seconds: float | None = Field(default=None, gt=0, le=86400)
    group: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=NO_NUL,
        description="Tasks of one group run one at a time, in enqueue order.",
    )
    concurrency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=NO_NUL,
        description="Counted against the queue's max_per_key.",
    )

    @field_validator("payload", "args")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        if fits(value):  # one pass in C; the checks below only say what is wrong
            return value
        for member in value.values() if isinstance(value, dict) else value:
            shallow(member)
        return encodable(value)

    @field_validator("scheduled_at")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if not EARLIEST <= value < LATEST:
            raise ValueError(f"must lie between {EARLIEST.isoformat()} and {LATEST.isoformat()}")
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> TaskIn:
        if self.delay_seconds and self.scheduled_at is not None:
            raise ValueError("give delay_seconds or scheduled_at, not both")
        return self


def shallow(value: Any) -> Any:
    """`value`, if it nests lists and objects at most `MAX_DEPTH` levels."""
    if nesting(value) > MAX_DEPTH:
        raise ValueError(
            f"nests lists and objects more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH}"
        )
    return value


def encodable(value: Any) -> Any:
    """`value`, if it can be stored as UTF-8 JSON: a lone surrogate (`"\\ud800"`) cannot."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ValueError("contains a lone surrogate, which UTF-8 cannot encode") from None
    return value


class BatchIn(Strict):
    tasks: list[TaskIn] = Field(min_length=1, max_length=1000)


class TaskAccepted(BaseModel):
    task_id: str
    status: StatusName
    created_at: datetime

    @classmethod
    def of(cls, handle: TaskHandle) -> TaskAccepted:
        return cls(task_id=handle.id, status=handle.status.value, created_at=handle.created_at)


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
    group: str | None = None
    concurrency_key: str | None = None
    workflow_id: str | None = None
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
            group=task.group,
            concurrency_key=task.concurrency_key,
            workflow_id=task.workflow_id,
            created_at=task.created_at,
            scheduled_at=task.run_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
        )


class WorkflowMemberOut(TaskOut):
    parents: list[str]
    """Ids of the members this one waits for, in the order their results are passed."""


WorkflowStatus = Literal["running", "completed", "failed"]


class WorkflowOut(BaseModel):
    workflow_id: str
    status: WorkflowStatus
    """running while any member is unfinished; then completed if all completed, else
    failed (some member failed for good or was cancelled)."""
    counts: dict[str, int]
    tasks: list[WorkflowMemberOut]

    @classmethod
    def of(cls, view: WorkflowView) -> WorkflowOut:
        counts: dict[str, int] = {}
        for task in view.tasks:
            counts[task.status.value] = counts.get(task.status.value, 0) + 1
        status: WorkflowStatus = "completed"
        if any(not t.status.finished for t in view.tasks):
            status = "running"
        elif any(t.status is not Status.COMPLETED for t in view.tasks):
            status = "failed"
        members = [
            WorkflowMemberOut(**TaskOut.of(t).model_dump(), parents=view.parents(t.id))
            for t in view.tasks
        ]
        return cls(workflow_id=view.id, status=status, counts=counts, tasks=members)


class TaskPage(BaseModel):
    tasks: list[TaskOut]
    next_cursor: str | None


class Cancelled(BaseModel):
    task_id: str
    status: StatusName


Whole = Annotated[StrictInt, Field(ge=0, le=LARGEST_WHOLE)]
Rate = Annotated[
    StrictFloat | StrictInt | Annotated[StrictStr, Field(max_length=100)],
    Field(description="Tasks per second, or '50/s', '30/m', '100/h', '1/d'."),
]
Seconds = Annotated[
    StrictFloat | StrictInt | Annotated[StrictStr, Field(max_length=100)],
    Field(description="Seconds, or '30s', '5m', '2h', '3d'."),
]


class TargetIn(Strict):
    """Where a push queue's tasks are sent. `{type}` in the URL's path becomes the task's
    type; the URL must match the server's push allow-list."""

    url: Annotated[StrictStr, Field(max_length=2000)]
    method: Literal["POST", "PUT", "PATCH"] | None = None
    headers: dict[StrictStr, StrictStr] | None = None
    deadline: Seconds | None = Field(
        default=None, description="Seconds the handler has to answer (default 30, at most 1800)."
    )


class TargetOut(BaseModel):
    url: str
    method: str
    headers: dict[str, str] = Field(
        description='Extra headers; values of credential headers (Authorization…) are "(set)".'
    )
    deadline: float


Secret = Annotated[StrictStr, Field(min_length=1, max_length=1000)]


class QueueSettingsIn(Strict):
    """Settings to change; a field left out keeps its value and null clears it back to its
    default. Names are those of `QueueSettingsOut`; rates and durations may be strings."""

    paused: StrictBool | None = None
    rate: Rate | None = None
    burst: Whole | None = None
    max_concurrent: Whole | None = None
    max_per_key: Whole | None = None
    max_attempts: Whole | None = None
    min_backoff: Seconds | None = None
    max_backoff: Seconds | None = None
    max_doublings: Whole | None = None
    age_limit: Seconds | None = None
    lease_seconds: Seconds | None = None
    completed_retention: Seconds | None = None
    failed_retention: Seconds | None = None
    priority: PriorityName | None = None
    secret_fields: (
        list[Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=NO_NUL)]] | None
    ) = Field(
        default=None,
        max_length=100,
        description='Payload keys whose values the API and logs show as "***".',
    )
    target: Annotated[StrictStr, Field(max_length=2000)] | TargetIn | None = Field(
        default=None, description="Push delivery: a URL, or an object with url and options."
    )
    secret: Secret | None = Field(default=None, description="Signs push requests; write-only.")
    previous_secret: Secret | None = Field(
        default=None, description="Also signs during a rotation; write-only."
    )


class QueueSettingsOut(BaseModel):
    """Every setting of a queue; null means the default (no limit, or the task's own
    policy else Conveyor's defaults). Rates are per second, durations in seconds."""

    paused: bool
    rate: float | None
    burst: int | None
    max_concurrent: int | None
    max_per_key: int | None
    max_attempts: int | None
    min_backoff: float | None
    max_backoff: float | None
    max_doublings: int | None
    age_limit: float | None
    lease_seconds: float | None
    completed_retention: float | None
    failed_retention: float | None
    priority: PriorityName | None
    secret_fields: list[str]
    target: TargetOut | None
    secret: Literal["set"] | None = Field(description='"set" when one is; never shown.')
    previous_secret: Literal["set"] | None

    @classmethod
    def of(cls, settings: QueueSettings) -> QueueSettingsOut:
        values = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name != "name"}
        values["priority"] = None if settings.priority is None else str(settings.priority)
        values["secret_fields"] = list(settings.secret_fields)
        values["target"] = None if settings.target is None else settings.target.shown()
        values["secret"] = "set" if settings.secret else None
        values["previous_secret"] = "set" if settings.previous_secret else None
        return cls(**values)


class QueueOut(BaseModel):
    name: str
    counts: dict[str, int]
    oldest_queued_age_seconds: float | None
    paused: bool
    settings: QueueSettingsOut


class QueueList(BaseModel):
    queues: list[QueueOut]


class ScheduleOut(BaseModel):
    """A periodic task; `when` is "cron '*/5 * * * *' (Europe/Berlin)" or "every 30s"."""

    name: str
    task: str
    queue: str
    cron: str | None
    every_seconds: float | None
    timezone: str
    misfire: Literal["once", "skip"]
    when: str
    next_run_at: datetime
    stored: bool = False
    """True for a schedule kept in the store (PUT, queue file), False for one in code."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}


class ScheduleList(BaseModel):
    schedules: list[ScheduleOut]


class ScheduleIn(Strict):
    """A stored schedule: `cron` (five fields, read in `timezone`) or `every_seconds`."""

    task: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    cron: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    every_seconds: float | None = Field(default=None, ge=0.1, le=366 * 86400)
    timezone: str = Field(default="UTC", max_length=100, pattern=NO_NUL)
    queue: str = Field(default="default", min_length=1, max_length=200, pattern=NO_NUL)
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    misfire: Literal["once", "skip"] = "once"

    @model_validator(mode="after")
    def _one_rule(self) -> ScheduleIn:
        if (self.cron is None) == (self.every_seconds is None):
            raise ValueError("give exactly one of cron and every_seconds")
        return self


class ReplayIn(Strict):
    task_ids: list[Annotated[str, Field(max_length=200, pattern=NO_NUL)]] | None = Field(
        default=None, max_length=1000
    )
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
    worker_id: str = Field(default="http-worker", min_length=1, max_length=200, pattern=NO_NUL)


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


Token = Field(min_length=1, max_length=18, pattern=r"^[0-9]+$")
"""Lease tokens are 64-bit counters; 18 digits always fit, so no token overflows the store."""


class HeartbeatIn(Strict):
    token: str = Token
    lease_seconds: float = Field(default=30.0, ge=1, le=3600)


class CompleteIn(Strict):
    token: str = Token
    result: Any = None

    @field_validator("result")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        return encodable(shallow(value))


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
