"""Turning a stored row into a `Task`, the same way for both backends."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from conveyor.core import payload
from conveyor.core.cron import Misfire, ScheduleSpec
from conveyor.core.frozen import builder
from conveyor.core.queue import QueueSettings
from conveyor.core.target import Target
from conveyor.core.task import Claimed, Lease, Priority, RetryPolicy, Status, Task


def to_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(float(value), tz=UTC)


def _json(value: Any) -> Any:
    return payload.loads(value) if isinstance(value, str | bytes) else value


# Every claimed task passes through `claimed_from_rows`, every task read through
# `task_from_row`, so both avoid the general paths where a cheaper one gives the same
# value: enum members by dict lookup, the empty JSON array and object (most tasks' kwargs
# and errors) without the decoder, JSON through the C scanner without `json.loads`'s
# Python layers, one shared `RetryPolicy` per distinct policy (it is frozen), and the
# frozen `Task` built through its slots (`frozen.builder`).
_STATUS = {member.value: member for member in Status}
_PRIORITY = {member.value: member for member in Priority}
_RETRY_POLICIES: dict[tuple[Any, ...], RetryPolicy] = {}
_RETRY_POLICIES_MAX = 1024
_loads = json.loads
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_fromtimestamp = datetime.fromtimestamp
_build_task = builder(Task)


def _column_json(value: Any) -> Any:
    """A JSON column as a value; a str is the encoded JSON (never the value itself)."""
    if value.__class__ is str:
        if value == "[]":
            return []
        if value == "{}":
            return {}
        try:
            decoded, end = _scan(value, 0)
        except StopIteration:
            return _loads(value)  # raises, naming the problem
        # Stored JSON is compact; anything after the value goes the long way.
        return decoded if end == len(value) else _loads(value)
    return _json(value)


_TIMES: dict[float, datetime] = {}
"""Epoch seconds `_time` converted lately: the rows of one claim share their start and
lease expiry, those of one bulk enqueue their creation time, so a claim converts a
handful of distinct times, not four per row."""
_TIMES_MAX = 64


def _time(value: Any) -> datetime | None:
    """`to_datetime` with the common cases (NULL, epoch seconds) first."""
    if value is None:
        return None
    if value.__class__ is float:
        converted = _TIMES.get(value)
        if converted is None:
            if len(_TIMES) >= _TIMES_MAX:
                _TIMES.clear()
            converted = _TIMES[value] = _fromtimestamp(value, UTC)
        return converted
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


TASK_COLUMNS = (
    "id", "name", "queue", "priority", "args", "kwargs", "attempts", "max_attempts",
    "min_backoff", "max_backoff", "max_doublings", "timeout", "result", "errors",
    "created_at", "run_at", "started_at", "finished_at", "idempotency_key", "worker_id",
    "lease_expires_at", "seq", "group_key", "concurrency_key", "workflow_id",
)  # fmt: skip
"""A task's columns besides its status, in the order `_task` unpacks them."""
CLAIMED_COLUMNS = (*TASK_COLUMNS, "lease_token")
"""What a claimed task is built from (`claimed_from_rows`)."""
_task_values = itemgetter(*TASK_COLUMNS)


def _task(status: Status, values: Sequence[Any]) -> Task:
    """A task from its status and its other columns' stored values, in `TASK_COLUMNS` order."""
    (
        task_id, name, queue, priority, args, kwargs, attempts, max_attempts,
        min_backoff, max_backoff, max_doublings, timeout, result, errors,
        created_at, run_at, started_at, finished_at, idempotency_key, worker_id,
        lease_expires_at, seq, group_key, concurrency_key, workflow_id,
    ) = values  # fmt: skip
    return _build_task(
        (
            str(task_id),
            name,
            queue,
            status,
            _PRIORITY.get(priority) or Priority(priority),
            _column_json(args),
            _column_json(kwargs),
            attempts,
            max_attempts,
            _retry_policy(max_attempts, min_backoff, max_backoff, max_doublings),
            timeout,
            None if result is None else _column_json(result),
            (None if errors is None else _column_json(errors)) or [],
            _time(created_at),
            _time(run_at),
            _time(started_at),
            _time(finished_at),
            idempotency_key,
            worker_id,
            _time(lease_expires_at),
            seq,
            group_key,
            concurrency_key,
            workflow_id,
        )
    )


def task_from_row(row: Mapping[str, Any], now: datetime) -> Task:
    """A task from a row read as a mapping; a queued task not yet due is scheduled."""
    status = _STATUS.get(row["status"]) or Status(row["status"])
    if status is Status.QUEUED:
        run_at = _time(row["run_at"])
        assert run_at is not None
        if run_at > now:
            status = Status.SCHEDULED
    return _task(status, _task_values(row))


_PICKERS: dict[tuple[str, ...], tuple[Callable[[Sequence[Any]], tuple[Any, ...]], int]] = {}


def claimed_from_rows(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[Claimed]:
    """Leased rows, as plain tuples with these column names, as running tasks.

    A claim turns every row it leases into a task, and building a dict per row cost as
    much as the rest of the conversion: one `itemgetter` per column layout puts each
    tuple in `TASK_COLUMNS` order instead. A claimed row is running: its status column
    is not read (nor a clock, which only tells a scheduled task from a queued one).
    """
    key = tuple(columns)
    picked = _PICKERS.get(key)
    if picked is None:
        positions = (key.index(name) for name in TASK_COLUMNS)
        picked = _PICKERS[key] = (itemgetter(*positions), key.index("lease_token"))
    pick, token_at = picked
    running = Status.RUNNING
    out: list[Claimed] = []
    for row in rows:
        task = _task(running, pick(row))
        out.append(Claimed(task, Lease(task.id, row[token_at])))
    return out


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
