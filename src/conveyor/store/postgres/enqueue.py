"""Enqueue: a batch of new tasks in one transaction, and the idempotency keys they hold.

The batch travels as one JSON document per INSERT of `BATCH_ROWS` rows, all chunks in
one transaction. A task whose (queue, idempotency key) another task already holds is not
inserted: the holder is returned in its place, marked as not created. The INSERT also
sends the wake-up notification, so a batch that fits one INSERT and can never need a
second write (`one_statement`) runs as one autocommit statement: one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conveyor.core import payload
from conveyor.core.task import NewTask, Task
from conveyor.errors import StoreUnavailable
from conveyor.store import workflows
from conveyor.store.base import Enqueued
from conveyor.store.postgres.connections import RETRIES, Executor
from conveyor.store.postgres.queries import Q, task_of
from conveyor.store.rows import DEFAULTS

BATCH_ROWS = 5000
"""Rows per INSERT in a bulk enqueue; all chunks share one transaction."""


def one_statement(tasks: Sequence[NewTask]) -> bool:
    """Whether `enqueue_tasks` may run without an explicit transaction: its only write is
    then one INSERT, atomic by itself.

    That holds for one chunk of tasks without workflow edges (a second write) when none
    can clash on an idempotency key, or when the batch is a single task: if that one
    clashes, nothing was written, and the lookup of the holder (and the INSERT again, if
    the holder was pruned meanwhile) are statements of their own in any case.
    """
    if len(tasks) == 1:
        return not tasks[0].parents
    return len(tasks) <= BATCH_ROWS and all(
        not t.parents and t.idempotency_key is None for t in tasks
    )


def enqueue_tasks(conn: Executor, tasks: Sequence[NewTask]) -> list[Enqueued]:
    """Insert, then look up the tasks that already held an idempotency key; then the
    edges of a workflow (whose members carry no idempotency keys, so all are created).

    The lookup runs in a fresh statement snapshot, so it sees a row another transaction
    committed while our INSERT waited on it. If that row was pruned in between, our key
    is free again: insert those tasks once more.
    """
    graph = workflows.plan(tasks)
    news = list(zip(graph.ids, tasks, graph.has_dependents, strict=True))
    created: dict[str, Task] = {}
    existing: dict[tuple[str, str | None], Task] = {}
    pending = news
    for _ in range(RETRIES):
        created.update(_insert(conn, pending))
        existing.update(_existing(conn, [n for i, n, _ in pending if i not in created]))
        pending = [
            (i, n, d)
            for i, n, d in pending
            if i not in created and (n.queue, n.idempotency_key) not in existing
        ]
        if not pending:
            break
    else:
        raise StoreUnavailable("an idempotency key kept changing hands during enqueue")
    if graph.edges:
        parents, children, positions = zip(*graph.edges, strict=True)
        params = {"parents": parents, "children": children, "positions": positions}
        conn.execute(Q["add_dependencies"], {k: list(v) for k, v in params.items()})
    return [
        Enqueued(created[i], True)
        if i in created
        else Enqueued(existing[(n.queue, n.idempotency_key)], False)
        for i, n, _ in news
    ]


def _insert(conn: Executor, news: Sequence[tuple[str, NewTask, bool]]) -> dict[str, Task]:
    created: dict[str, Task] = {}
    for start in range(0, len(news), BATCH_ROWS):
        rows = conn.execute(Q["enqueue"], _enqueue_params(news[start : start + BATCH_ROWS]))
        for row in rows.fetchall():
            task = task_of(row)
            created[task.id] = task
    return created


def _existing(conn: Executor, news: Sequence[NewTask]) -> dict[tuple[str, str | None], Task]:
    if not news:
        return {}
    params = {
        "queue": [n.queue for n in news],
        "idempotency_key": [n.idempotency_key for n in news],
    }
    found = {}
    for row in conn.execute(Q["get_by_idempotency_key"], params).fetchall():
        task = task_of(row)
        found[(task.queue, task.idempotency_key)] = task
    return found


def _enqueue_params(news: Sequence[tuple[str, NewTask, bool]]) -> dict[str, Any]:
    """The batch as one JSON document: `json.dumps` in C beats adapting 14 arrays."""
    rows = [
        {
            "id": task_id,
            "name": new.name,
            "queue": new.queue,
            "priority": None if new.priority is None else int(new.priority),
            "args": new.args,
            "kwargs": new.kwargs,
            "max_attempts": new.retry and new.retry.max_attempts,
            "min_backoff": new.retry and new.retry.min_backoff,
            "max_backoff": new.retry and new.retry.max_backoff,
            "max_doublings": new.retry and new.retry.max_doublings,
            "timeout": new.timeout,
            "run_at": None if new.run_at is None else new.run_at.timestamp(),
            "delay": new.delay,
            "idempotency_key": new.idempotency_key,
            "group_key": new.group,
            "concurrency_key": new.concurrency_key,
            **workflows.columns(new, has_dependents),
        }
        for task_id, new, has_dependents in news
    ]
    return {"tasks": payload.dumps(rows), **DEFAULTS}
