"""Turning a stored row into a `Task`, the same way for both backends."""

from __future__ import annotations

import json
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


# Every claimed or enqueued task passes through `task_from_row`, so it avoids the general
# paths where a cheaper one gives the same value: enum members by dict lookup, the empty
# JSON array and object (most tasks' kwargs and errors) without the decoder, and one
# shared `RetryPolicy` per distinct policy (it is frozen).
_STATUS = {member.value: member for member in Status}
_PRIORITY = {member.value: member for member in Priority}
_RETRY_POLICIES: dict[tuple[Any, ...], RetryPolicy] = {}
_RETRY_POLICIES_MAX = 1024
_loads = json.loads
_fromtimestamp = datetime.fromtimestamp


def _column_json(value: Any) -> Any:
    """A JSON column as a value; a str is the encoded JSON (never the value itself)."""
    if value.__class__ is str:
        if value == "[]":
            return []
        if value == "{}":
            return {}
        return _loads(value)
    return _json(value)


def _time(value: Any) -> datetime | None:
    """`to_datetime` with the common cases (NULL, epoch seconds) first."""
    if value is None:
        return None
    if value.__class__ is float:
        return _fromtimestamp(value, UTC)
    return to_datetime(value)


def _retry_policy(
    max_attempts: int, min_backoff: Any, max_backoff: Any, max_doublings: int
) -> RetryPolicy:
    key = (max_attempts, min_backoff, max_backoff, max_doublings)
    policy = _RETRY_POLICIES.get(key)
    if policy is None:
        policy = RetryPolicy(
            max_attempts=max_attempts,
            min_backoff=float(min_backoff),
            max_backoff=float(max_backoff),
            max_doublings=max_doublings,
        )
        if len(_RETRY_POLICIES) >= _RETRY_POLICIES_MAX:
            _RETRY_POLICIES.clear()
        _RETRY_POLICIES[key] = policy
    return policy


def task_from_row(row: Mapping[str, Any], now: datetime) -> Task:
    status = _STATUS.get(row["status"]) or Status(row["status"])
    run_at = _time(row["run_at"])
    assert run_at is not None
    if status is Status.QUEUED and run_at > now:
        status = Status.SCHEDULED
    priority = row["priority"]
    max_attempts = row["max_attempts"]
    return Task(
        id=str(row["id"]),
        name=row["name"],
        queue=row["queue"],
        status=status,
        priority=_PRIORITY.get(priority) or Priority(priority),
        args=_column_json(row["args"]),
        kwargs=_column_json(row["kwargs"]),
        attempts=row["attempts"],
        max_attempts=max_attempts,
        retry=_retry_policy(
            max_attempts, row["min_backoff"], row["max_backoff"], row["max_doublings"]
        ),
        timeout=row["timeout"],
        result=_column_json(row["result"]),
        errors=_column_json(row["errors"]) or [],
        created_at=_time(row["created_at"]),  # type: ignore[arg-type]
        run_at=run_at,
        started_at=_time(row["started_at"]),
        finished_at=_time(row["finished_at"]),
        idempotency_key=row["idempotency_key"],
        worker_id=row["worker_id"],
        lease_expires_at=_time(row["lease_expires_at"]),
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
