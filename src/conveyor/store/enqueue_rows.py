"""New tasks as rows: the values a bulk insert writes, the same way for both backends.

What a task leaves open (priority, retry policy) comes from its queue's settings, else
the defaults; `queue_defaults` reads them once per batch, in the enqueue's transaction,
so a bulk insert needs no join per row. The arguments are checked (JSON, depth) as they
are encoded, once per task, so a bad one fails the batch before anything is written.
`receipts` says what each task became: the handle needs its id, whether it was created,
its status and its creation time, never the whole row read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conveyor.core import payload
from conveyor.core.frozen import builder
from conveyor.core.task import NewTask, Priority, RetryPolicy, Status
from conveyor.store.base import Enqueued
from conveyor.store.workflows import Plan

COLUMNS = (
    "id", "name", "queue", "status", "priority", "args", "kwargs", "max_attempts",
    "min_backoff", "max_backoff", "max_doublings", "timeout", "created_at", "run_at",
    "idempotency_key", "group_key", "concurrency_key", "workflow_id", "waiting_on",
    "pass_results", "on_parent_failure", "has_dependents",
)  # fmt: skip
"""The columns of a new task's row, in the order `rows` gives its values."""

_DEFAULT_RETRY = RetryPolicy()
_build_receipt = builder(Enqueued)


@dataclass(frozen=True, slots=True)
class Defaults:
    """What a queue gives the tasks that leave priority or retry policy open."""

    priority: int = int(Priority.NORMAL)
    retry: tuple[int, float, float, int] = (
        _DEFAULT_RETRY.max_attempts,
        _DEFAULT_RETRY.min_backoff,
        _DEFAULT_RETRY.max_backoff,
        _DEFAULT_RETRY.max_doublings,
    )


def queue_defaults(rows: Iterable[Mapping[str, Any]]) -> dict[str, Defaults]:
    """Defaults by queue name from `queue_defaults` rows; a queue without a row (or a
    setting left empty) gives the built-in defaults, as `coalesce` does in SQL."""
    base = Defaults()
    found: dict[str, Defaults] = {}
    for row in rows:
        retry = (row["max_attempts"], row["min_backoff"], row["max_backoff"], row["max_doublings"])
        found[row["name"]] = Defaults(
            base.priority if row["priority"] is None else row["priority"],
            tuple(b if v is None else v for v, b in zip(retry, base.retry, strict=True)),  # type: ignore[arg-type]
        )
    return found


def rows(
    tasks: Sequence[NewTask],
    graph: Plan,
    defaults: Mapping[str, Defaults],
    created_at: Any,
    run_at: Any,
) -> list[tuple[Any, ...]]:
    """One tuple of `COLUMNS` values per task.

    The backend decides how times are spelled: `created_at` is the enqueue's clock and
    `run_at(new)` a task's due time, both in the backend's own type.
    """
    fallback = Defaults()
    out: list[tuple[Any, ...]] = []
    for new, task_id, has_dependents in zip(tasks, graph.ids, graph.has_dependents, strict=True):
        queue = defaults.get(new.queue, fallback)
        retry = new.retry
        policy = queue.retry if retry is None else _policy(retry)
        parents = len(new.parents)
        args, kwargs = payload.encode_arguments(new.name, new.args, new.kwargs)
        out.append(
            (
                task_id,
                new.name,
                new.queue,
                "waiting" if parents else "queued",
                queue.priority if new.priority is None else int(new.priority),
                args,
                kwargs,
                *policy,
                new.timeout,
                created_at,
                run_at(new),
                new.idempotency_key,
                new.group,
                new.concurrency_key,
                new.workflow_id,
                parents,
                None if new.pass_results is None else new.pass_results.value,
                new.on_parent_failure.value,
                has_dependents,
            )
        )
    return out


def _policy(retry: RetryPolicy) -> tuple[int, float, float, int]:
    return (retry.max_attempts, retry.min_backoff, retry.max_backoff, retry.max_doublings)


def created(
    tasks: Sequence[NewTask], ids: Sequence[str], now: datetime, due: Sequence[bool]
) -> list[Enqueued]:
    """Receipts for tasks that were all inserted: `due[i]` says whether task i runs now."""
    out: list[Enqueued] = []
    for new, task_id, is_due in zip(tasks, ids, due, strict=True):
        status = Status.QUEUED if is_due else Status.SCHEDULED
        if new.parents:
            status = Status.WAITING
        out.append(_build_receipt((task_id, True, status, now)))
    return out


def shown(status: str, due: bool) -> Status:
    """A stored status as shown: queued but not yet due is scheduled."""
    if status == "queued":
        return Status.QUEUED if due else Status.SCHEDULED
    return Status(status)


def holder(row: Mapping[str, Any], created_at: datetime, now: Any) -> Enqueued:
    """The receipt of a task that already held a key, from its `get_by_idempotency_key`
    row, shown against `now`."""
    return Enqueued(str(row["id"]), False, shown(row["status"], row["run_at"] <= now), created_at)


def holders(
    receipts: list[Enqueued], found: Mapping[tuple[str, str], Enqueued], tasks: Sequence[NewTask]
) -> list[Enqueued]:
    """Replace the receipt of each task whose idempotency key an earlier task holds by
    the holder's receipt (`found`, by queue and key), marked as not created."""
    out: list[Enqueued] = []
    for receipt, new in zip(receipts, tasks, strict=True):
        key = new.idempotency_key
        holder = None if key is None else found.get((new.queue, key))
        if holder is None or holder.id == receipt.id:
            out.append(receipt)
        else:
            out.append(Enqueued(holder.id, False, holder.status, holder.created_at))
    return out
