"""Enqueue: a batch of new tasks in one transaction, and the idempotency keys they hold.

Two ways in, chosen by the batch (`uses_copy`):

- **COPY**, for a batch of `COPY_ROWS` tasks or more of which none has an idempotency
  key, so none can clash: in one transaction, read the clock and the defaults of the
  batch's queues, resolve every row in Python (`enqueue_rows`), stream the rows with
  `COPY`, the cheapest way into PostgreSQL. Every task is created.
- **INSERT** of one JSON document per `BATCH_ROWS` rows, for small batches and any batch
  with idempotency keys: a task whose (queue, idempotency key) another task already
  holds is not inserted, and the holder is returned in its place, marked as not created.
  A batch that fits one INSERT and can never need a second write (`one_statement`)
  runs as one autocommit statement.

Either way the store answers receipts (`Enqueued`), never whole rows read back, and
the workers of the queues with tasks due now are woken after the commit
(`enqueue_and_wake`), or within the caller's transaction when it is the caller's. When
the INSERT is sure to create every task due now (`wakes_in_one_trip`, as a single
enqueue usually is), the wake-up travels with it: one round trip, two transactions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from conveyor.core import payload
from conveyor.core.task import NewTask, Status
from conveyor.errors import PayloadError, StoreUnavailable
from conveyor.store import enqueue_rows, workflows
from conveyor.store.base import Enqueued
from conveyor.store.postgres import pipeline
from conveyor.store.postgres.connections import RETRIES, Conn, Executor, oneline
from conveyor.store.postgres.queries import Q, Row
from conveyor.store.rows import DEFAULTS

log = logging.getLogger(__name__)

BATCH_ROWS = 5000
"""Rows per INSERT in a bulk enqueue; all chunks share one transaction."""
COPY_ROWS = 50
"""Batches this large without idempotency keys go in with COPY: below it, the INSERT's
single round trip costs less than COPY's transaction of several."""
RUN_AT = enqueue_rows.COLUMNS.index("run_at")


def uses_copy(tasks: Sequence[NewTask]) -> bool:
    return len(tasks) >= COPY_ROWS and all(t.idempotency_key is None for t in tasks)


def one_statement(tasks: Sequence[NewTask]) -> bool:
    """Whether `enqueue_tasks` may run without an explicit transaction: its only write is
    then one INSERT, atomic by itself.

    That holds for one chunk of tasks without workflow edges (a second write) when none
    can clash on an idempotency key, or when the batch is a single task: if that one
    clashes, nothing was written, and the lookup of the holder (and the INSERT again, if
    the holder was pruned meanwhile) are statements of their own in any case. A batch
    that goes in with COPY is several statements.
    """
    if len(tasks) == 1:
        return not tasks[0].parents
    if uses_copy(tasks):
        return False
    return len(tasks) <= BATCH_ROWS and all(
        not t.parents and t.idempotency_key is None for t in tasks
    )


def enqueue_and_wake(conn: Conn, tasks: Sequence[NewTask]) -> list[Enqueued]:
    """Store the batch on a pooled connection, then wake the workers of the queues it
    made work due on, after the commit.

    PostgreSQL lets one notifying transaction commit at a time (`NOTIFY` holds a
    cluster-wide lock through the commit's WAL flush), so a NOTIFY inside the enqueue
    would make concurrent enqueues wait for each other's flushes instead of sharing
    one. The wake-up is a hint: if it is lost (the connection fails between the commit
    and the notification), an idle worker still looks again within its idle wait (a
    second), and the enqueue, already durable, is not reported as failed.
    """
    if wakes_in_one_trip(tasks):
        return _enqueue_and_wake_pipelined(conn, tasks)
    if one_statement(tasks):
        receipts = enqueue_tasks(conn, tasks)
    else:
        with conn.transaction():
            receipts = enqueue_tasks(conn, tasks)
    try:
        _wake(conn, due_queues(tasks, receipts))
    except psycopg.Error as exc:
        log.warning("enqueued, but could not wake the workers: %s", oneline(exc))
    return receipts


def wakes_in_one_trip(tasks: Sequence[NewTask]) -> bool:
    """Whether the batch is one INSERT certain to create every task due now (no
    idempotency key to clash on, no parents to wait for, no delay): the queues to wake
    are then known before the INSERT runs, and the wake-up can travel with it."""
    return one_statement(tasks) and all(
        t.idempotency_key is None and not t.parents and t.run_at is None and not t.delay
        for t in tasks
    )


def _enqueue_and_wake_pipelined(conn: Conn, tasks: Sequence[NewTask]) -> list[Enqueued]:
    """The INSERT and the wake-up in one round trip (`pipeline.run`), each its own
    transaction, in that order: the wake-up still goes out after the commit, and the
    enqueue waits for the server once instead of twice."""
    graph = workflows.plan(tasks)
    news = list(zip(graph.ids, tasks, graph.has_dependents, strict=True))
    queues = payload.dumps(sorted({new.queue for new in tasks}))
    inserted, woken = pipeline.run(
        conn, [(_ENQUEUE, _enqueue_params(news)), (_WAKE_ALL, {"queues": queues})]
    )
    created = {}
    for row in pipeline.rows(conn, pipeline.check(conn, inserted)):
        receipt = _receipt(row, created=True)
        created[receipt.id] = receipt
    try:
        pipeline.check(conn, woken)
    except psycopg.Error as exc:
        log.warning("enqueued, but could not wake the workers: %s", oneline(exc))
    return [created[task_id] for task_id in graph.ids]


def _wake(conn: Conn, queues: Sequence[str]) -> None:
    """`listen.notify` straight through libpq: the statement is fixed and returns
    nothing we read, and psycopg's own execute cost five times the CPU (a tenth of a
    single enqueue)."""
    if not queues:
        return
    result = conn.pgconn.exec_params(_WAKE, [payload.dumps(list(queues)).encode()])
    if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
        raise psycopg.OperationalError(result.get_error_message())


_WAKE = Q["wake"].encode()
_WAKE_ALL = pipeline.Statement(b"conveyor_wake", _WAKE, ("queues",))
_ENQUEUE = pipeline.Statement.of("enqueue", Q["enqueue"])


def due_queues(tasks: Sequence[NewTask], receipts: Sequence[Enqueued]) -> list[str]:
    """The queues this enqueue made work due on now: tasks created queued, not scheduled."""
    return sorted(
        {
            new.queue
            for new, r in zip(tasks, receipts, strict=True)
            if r.created and r.status is Status.QUEUED
        }
    )


def enqueue_tasks(conn: Executor, tasks: Sequence[NewTask]) -> list[Enqueued]:
    """Store the batch; the receipts in input order."""
    graph = workflows.plan(tasks)
    if uses_copy(tasks):
        receipts = _copy(conn, tasks, graph)
    else:
        receipts = _insert_with_keys(conn, tasks, graph)
    if graph.edges:
        parents, children, positions = zip(*graph.edges, strict=True)
        params = {"parents": parents, "children": children, "positions": positions}
        conn.execute(Q["add_dependencies"], {k: list(v) for k, v in params.items()})
    return receipts


# -- COPY ---------------------------------------------------------------------------------


def _copy(conn: Executor, tasks: Sequence[NewTask], graph: workflows.Plan) -> list[Enqueued]:
    queues = list({new.queue for new in tasks})
    found = conn.execute(Q["queue_defaults"], {"queues": queues}).fetchall()
    now: datetime = found[0]["now"].astimezone(UTC)
    defaults = enqueue_rows.queue_defaults(row for row in found if row["name"] is not None)
    values = enqueue_rows.rows(tasks, graph, defaults, now, lambda new: _run_at(new, now))
    cursor = conn.cursor() if isinstance(conn, psycopg.Connection) else conn
    try:
        with cursor.copy(Q["enqueue_copy"]) as copy:
            for row in values:
                copy.write_row(row)
    except psycopg.DataError as exc:
        if "NUL" not in str(exc):
            raise
        # The INSERT path reports the same as UntranslatableCharacter (connections.run).
        raise PayloadError(
            "PostgreSQL cannot store the character \\u0000 in text or JSON "
            f"(a name, key, argument, result or error): {oneline(exc)}"
        ) from exc
    due = [row[RUN_AT] <= now for row in values]
    return enqueue_rows.created(tasks, graph.ids, now, due)


def _run_at(new: NewTask, now: datetime) -> datetime:
    if new.run_at is not None:
        return new.run_at
    return now + timedelta(seconds=new.delay) if new.delay else now


# -- INSERT, with idempotency keys ----------------------------------------------------------


def _insert_with_keys(
    conn: Executor, tasks: Sequence[NewTask], graph: workflows.Plan
) -> list[Enqueued]:
    """Insert, then look up the tasks that already held an idempotency key (workflow
    members carry no keys, so all of them are created).

    The lookup runs in a fresh statement snapshot, so it sees a row another transaction
    committed while our INSERT waited on it. If that row was pruned in between, our key
    is free again: insert those tasks once more.
    """
    news = list(zip(graph.ids, tasks, graph.has_dependents, strict=True))
    created: dict[str, Enqueued] = {}
    existing: dict[tuple[str, str | None], Enqueued] = {}
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
    return [
        created[i] if i in created else existing[(n.queue, n.idempotency_key)] for i, n, _ in news
    ]


def _insert(conn: Executor, news: Sequence[tuple[str, NewTask, bool]]) -> dict[str, Enqueued]:
    created: dict[str, Enqueued] = {}
    for start in range(0, len(news), BATCH_ROWS):
        rows = conn.execute(Q["enqueue"], _enqueue_params(news[start : start + BATCH_ROWS]))
        for row in rows.fetchall():
            receipt = _receipt(row, created=True)
            created[receipt.id] = receipt
    return created


def _existing(conn: Executor, news: Sequence[NewTask]) -> dict[tuple[str, str | None], Enqueued]:
    if not news:
        return {}
    params = {
        "queue": [n.queue for n in news],
        "idempotency_key": [n.idempotency_key for n in news],
    }
    rows = conn.execute(Q["get_by_idempotency_key"], params).fetchall()
    return {(row["queue"], row["idempotency_key"]): _receipt(row, created=False) for row in rows}


def _receipt(row: Row, *, created: bool) -> Enqueued:
    """A receipt from a row of `enqueue` or `get_by_idempotency_key`, shown against the
    clock its statement ran at (`db_now`)."""
    created_at: datetime = row["created_at"].astimezone(UTC)
    if created:
        status = enqueue_rows.shown(row["status"], row["run_at"] <= row["db_now"])
        return Enqueued(row["id"], True, status, created_at)
    return enqueue_rows.holder(row, created_at, row["db_now"])


def _enqueue_params(news: Sequence[tuple[str, NewTask, bool]]) -> dict[str, Any]:
    """The batch as one JSON document: `json.dumps` in C beats adapting 14 arrays."""
    for _, new, _ in news:
        payload.check_arguments(new.name, new.args, new.kwargs)
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
