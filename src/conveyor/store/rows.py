"""Turning a stored row into a `Task`, the same way for both backends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from conveyor.core import payload
from conveyor.core.cron import Misfire, ScheduleSpec
from conveyor.core.queue import QueueSettings
from conveyor.core.target import Target
from conveyor.core.task import Priority, RetryPolicy, Status, Task


def to_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(float(value), tz=UTC)


def _json(value: Any) -> Any:
    return payload.loads(value) if isinstance(value, str | bytes) else value


def task_from_row(row: Mapping[str, Any], now: datetime) -> Task:
    status = Status(row["status"])
    run_at = to_datetime(row["run_at"])
    assert run_at is not None
    if status is Status.QUEUED and run_at > now:
        status = Status.SCHEDULED
    return Task(
        id=str(row["id"]),
        name=row["name"],
        queue=row["queue"],
        status=status,
        priority=Priority(row["priority"]),
        args=_json(row["args"]),
        kwargs=_json(row["kwargs"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        retry=RetryPolicy(
            max_attempts=row["max_attempts"],
            min_backoff=float(row["min_backoff"]),
            max_backoff=float(row["max_backoff"]),
            max_doublings=row["max_doublings"],
        ),
        timeout=row["timeout"],
        result=_json(row["result"]),
        errors=_json(row["errors"]) or [],
        created_at=to_datetime(row["created_at"]),  # type: ignore[arg-type]
        run_at=run_at,
        started_at=to_datetime(row["started_at"]),
        finished_at=to_datetime(row["finished_at"]),
        idempotency_key=row["idempotency_key"],
        worker_id=row["worker_id"],
        lease_expires_at=to_datetime(row["lease_expires_at"]),
        seq=row["seq"],
        group=row.get("group_key"),
        concurrency_key=row.get("concurrency_key"),
        workflow_id=row.get("workflow_id"),
    )


QUEUE_FIELDS = [f.name for f in fields(QueueSettings) if f.name != "target"]
"""Settings stored in a column of their own name; the target spans `target_*` columns."""


def queue_from_row(row: Mapping[str, Any]) -> QueueSettings:
    values = {name: row[name] for name in QUEUE_FIELDS}
    values["paused"] = bool(values["paused"])
    if values["priority"] is not None:
        values["priority"] = Priority(values["priority"])
    values["secret_fields"] = tuple(payload.loads(values["secret_fields"]) or ())
    if row.get("target_url") is not None:
        values["target"] = Target(
            url=row["target_url"],
            method=row["target_method"],
            headers=_json(row["target_headers"]) or {},
            deadline=float(row["target_deadline"]),
        )
    return QueueSettings(**values)


def queue_params(settings: QueueSettings) -> dict[str, Any]:
    values = {name: getattr(settings, name) for name in QUEUE_FIELDS}
    values["priority"] = None if settings.priority is None else int(settings.priority)
    secret = settings.secret_fields
    values["secret_fields"] = payload.dumps(list(secret)) if secret else None
    target = settings.target
    values["target_url"] = target.url if target else None
    values["target_method"] = target.method if target else None
    values["target_headers"] = payload.dumps(dict(target.headers)) if target else None
    values["target_deadline"] = target.deadline if target else None
    return values


def schedule_from_row(row: Mapping[str, Any]) -> ScheduleSpec:
    return ScheduleSpec(
        name=row["name"],
        task=row["task"],
        queue=row["queue"],
        cron=row["cron"],
        every=row["every"],
        timezone=row["timezone"],
        args=_json(row["args"]),
        kwargs=_json(row["kwargs"]),
        misfire=Misfire(row["misfire"]),
    )


def schedule_params(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "task": spec.task,
        "queue": spec.queue,
        "cron": spec.cron,
        "every": spec.every,
        "timezone": spec.timezone,
        "args": payload.dumps(spec.args),
        "kwargs": payload.dumps(spec.kwargs),
        "misfire": spec.misfire.value,
    }


# What a task gets when neither it nor its queue says otherwise.
DEFAULTS = {
    "default_priority": int(Priority.NORMAL),
    "default_max_attempts": RetryPolicy().max_attempts,
    "default_min_backoff": RetryPolicy().min_backoff,
    "default_max_backoff": RetryPolicy().max_backoff,
    "default_max_doublings": RetryPolicy().max_doublings,
}
