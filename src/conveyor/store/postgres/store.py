"""PostgreSQL backend: `PostgresStore`, the `Store` protocol over `queries.sql`.

Batches travel as parallel arrays (a bulk enqueue as one JSON document) and are unnested
in SQL, so a batch of a hundred acknowledgements is one statement, not a hundred.
Statements lock the rows of a batch in `seq` order, so overlapping batches queue up
instead of deadlocking (see the head of `queries.sql`).

Wake-up: every write that makes work due now (enqueue, a retry without delay, release,
the reaper, replay, unpausing a queue) sends `pg_notify('conveyor', queue)`, and
`wait_for_work` waits on the store's `listen.Listener`.

Beside this module: `connections` (the URL, the pool, failures as `StoreUnavailable`),
`listen` (LISTEN/NOTIFY), `claim` (claims from queues with limits), `enqueue` (bulk
inserts and idempotency keys) and `queries` (the statements by name).
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from conveyor.core import payload
from conveyor.core.cron import ScheduleSpec
from conveyor.core.limits import THROTTLE_POLL_SECONDS
from conveyor.core.queue import QueueSettings
from conveyor.core.tallies import ProcessingTimes, QueueTotals
from conveyor.core.task import Claimed, Completion, Failure, Lease, NewTask, Task
from conveyor.core.workers import DEAD_AFTER_BEATS, NewWorker, WorkerInfo
from conveyor.core.workflow import WorkflowView
from conveyor.errors import ConfigurationError
from conveyor.store import workflows
from conveyor.store.activity import assemble, bucket_count
from conveyor.store.base import Enqueued, Page, QueueActivity, QueueStats, TaskFilter
from conveyor.store.combine import Combiner, combinable
from conveyor.store.limits import QueueState
from conveyor.store.listing import list_where
from conveyor.store.postgres.claim import claim_limited, claim_rows, queue_states, store_clock
from conveyor.store.postgres.connections import Conn, Connections
from conveyor.store.postgres.enqueue import due_queues, enqueue_and_wake, enqueue_tasks
from conveyor.store.postgres.listen import Listener, notify
from conveyor.store.postgres.queries import Q, Row, task_of
from conveyor.store.rows import (
    queue_from_row,
    queue_params,
    schedule_from_row,
    schedule_params,
)
from conveyor.store.sqlfile import load_migrations
from conveyor.store.tallies import times_from_rows, totals_from_rows
from conveyor.store.workers import worker_from_row, worker_params

LIMITED_CACHE_SECONDS = 1.0
"""How long `_limited_queues` trusts the names it read."""


class PostgresStore:
    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 5.0
    ) -> None:
        """`timeout`: seconds to wait for a connection before raising StoreUnavailable."""
        self.url = url
        self._db = Connections(url, min_size=min_size, max_size=max_size, timeout=timeout)
        self._listener = Listener(self._db.conninfo, self._db.where)
        self._limited_cache: tuple[float, frozenset[str]] = (0.0, frozenset())
        self._combiner = Combiner(
            lambda tasks: self._db.run(lambda conn: enqueue_and_wake(conn, tasks))
        )

    # -- connections -------------------------------------------------------------

    def _execute(self, query: str, params: dict[str, Any]) -> list[Row]:
        return self._db.run(lambda conn: conn.execute(query, params).fetchall())

    def _rowcount(self, query: str, params: dict[str, Any]) -> int:
        return self._db.run(lambda conn: conn.execute(query, params).rowcount)

    def now(self) -> datetime:
        rows = self._execute(Q["now"], {})
        value: datetime = rows[0]["now"]
        return value.astimezone(UTC)

    # -- schema ------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply pending migrations under an advisory lock, so concurrent starts queue up."""
        return self._db.run(_migrate, transaction=True)

    # -- tasks, write --------------------------------------------------------------

    def enqueue(self, tasks: Sequence[NewTask], *, connection: Any = None) -> list[Enqueued]:
        if not tasks:
            return []
        if connection is not None:
            # The caller's transaction: our NOTIFY is delivered only if it commits.
            cursor = _callers(connection)
            receipts = enqueue_tasks(cursor, tasks)
            notify(cursor, due_queues(tasks, receipts))
            return receipts
        if combinable(tasks):
            return self._combiner.enqueue(tasks)
        return self._db.run(lambda conn: enqueue_and_wake(conn, tasks))

    def claim(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        lease_seconds: float,
        now: float | None = None,
    ) -> list[Claimed]:
        """Claim from unlimited queues in one statement; when limited queues are asked
        for too, in one transaction under their locked settings rows (see
        claim.claim_limited), so both kinds share one priority order."""
        if limit <= 0 or not queues:
            return []
        self._listener.answer_heard(queues)
        wanted = list(dict.fromkeys(queues))
        params = {
            "queues": wanted,
            "limit": limit,
            "worker_id": worker_id,
            "lease_seconds": lease_seconds,
            "now": now,
        }
        limited = [q for q in wanted if q in self._limited_queues()]
        if limited:
            claimed = self._db.run(
                lambda conn: claim_limited(conn, params, limited), transaction=True
            )
        else:
            claimed = self._db.run(lambda conn: claim_rows(conn, Q["claim"], params))
        return sorted(claimed, key=lambda c: (c.task.priority, c.task.seq))

    def _limited_queues(self) -> frozenset[str]:
        """Names of queues with limits, cached briefly: a stale answer only delays a claim,
        since the one-statement claim never takes tasks of a limited queue."""
        at, names = self._limited_cache
        if time.monotonic() - at > LIMITED_CACHE_SECONDS:
            rows = self._execute(Q["limited_queues"], {})
            names = frozenset(row["name"] for row in rows)
            self._limited_cache = (time.monotonic(), names)
        return names

    def _batch(self, query: str, params: dict[str, Any]) -> list[str]:
        """One statement for the whole batch; the accepted ids, in the order given."""
        ids: list[str] = params["ids"]
        if not ids:
            return []
        rows = self._db.run(lambda conn: _update_and_notify(conn, query, params))
        self._settle([row["id"] for row in rows if row.get("has_dependents")], params.get("now"))
        accepted = {row["id"] for row in rows}
        return list(dict.fromkeys(i for i in ids if i in accepted))

    def _settle(self, parents: list[str], now: float | None, sweep: bool = False) -> None:
        """Count finished parents against their dependents, in a transaction of its own:
        the outcome has committed already, and if we crash first the reaper's sweep
        (`sweep=True`) settles it."""
        if parents or sweep:
            self._db.run(lambda conn: _settle(conn, parents, now, sweep), transaction=True)

    def heartbeat(
        self, leases: Sequence[Lease], lease_seconds: float, now: float | None = None
    ) -> list[str]:
        params = {**_leases(leases), "lease_seconds": lease_seconds, "now": now}
        return self._batch(Q["heartbeat"], params)

    def complete(self, completions: Sequence[Completion], now: float | None = None) -> list[str]:
        params = {
            **_leases(c.lease for c in completions),
            "results": [payload.dumps(c.result) for c in completions],
            "now": now,
        }
        return self._batch(Q["complete"], params)

    def fail(self, failures: Sequence[Failure], now: float | None = None) -> list[str]:
        params = {
            **_leases(f.lease for f in failures),
            # Binary arrays refuse a mix of int and float.
            "retry_delays": [
                None if f.retry_delay is None else float(f.retry_delay) for f in failures
            ],
            "errors": [payload.dumps(f.error.to_json()) for f in failures],
            "now": now,
        }
        return self._batch(Q["fail"], params)

    def release(self, leases: Sequence[Lease], now: float | None = None) -> list[str]:
        return self._batch(Q["release"], {**_leases(leases), "now": now})

    def cancel(self, task_ids: Sequence[str], now: float | None = None) -> list[str]:
        return self._batch(Q["cancel"], {"ids": [str(i) for i in task_ids], "now": now})

    # -- tasks, read ---------------------------------------------------------------

    def get(self, task_id: str) -> Task | None:
        rows = self._execute(Q["get"], {"id": str(task_id)})
        return task_of(rows[0]) if rows else None

    def list(self, filter: TaskFilter, limit: int = 50, cursor: str | None = None) -> Page:
        where, params = list_where(filter, cursor, lambda n: f"%({n})s", "now()")
        sql = (
            f"SELECT *, now() AS db_now FROM conveyor_tasks {where} "
            "ORDER BY seq DESC LIMIT %(limit)s"
        )
        rows = self._execute(sql, {**params, "limit": limit + 1})
        tasks = [task_of(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(tasks, str(tasks[-1].seq) if more and tasks else None)

    def workflow(self, workflow_id: str) -> WorkflowView | None:
        params = {"workflow_id": str(workflow_id)}

        def read(conn: Conn) -> tuple[list[Row], list[Row]]:
            return (
                conn.execute(Q["workflow_tasks"], params).fetchall(),
                conn.execute(Q["workflow_edges"], params).fetchall(),
            )

        tasks, edges = self._db.run(read, transaction=True)
        if not tasks:
            return None
        pairs = [(row["parent_id"], row["child_id"]) for row in edges]
        return WorkflowView(str(workflow_id), [task_of(row) for row in tasks], pairs)

    def workflow_counts(self, workflow_id: str, now: float | None = None) -> dict[str, int]:
        rows = self._execute(Q["workflow_counts"], {"workflow_id": str(workflow_id), "now": now})
        return {row["state"]: row["n"] for row in rows}

    def stats(self, now: float | None = None) -> builtins.list[QueueStats]:
        counts: dict[str, dict[str, int]] = {}
        ages: dict[str, float] = {}
        for row in self._execute(Q["stats"], {"now": now}):
            counts.setdefault(row["queue"], {})[row["state"]] = row["n"]
            if row["oldest_age"] is not None:
                ages[row["queue"]] = max(0.0, row["oldest_age"])
        return [QueueStats(q, counts[q], ages.get(q)) for q in sorted(counts)]

    def totals(self) -> builtins.list[QueueTotals]:
        return totals_from_rows(self._execute(Q["totals"], {}))

    def processing_times(
        self, window_seconds: float, buckets: Sequence[float], now: float | None = None
    ) -> builtins.list[ProcessingTimes]:
        params = {"now": now, "window_seconds": window_seconds, "buckets": sorted(buckets)}
        return times_from_rows(self._execute(Q["processing_times"], params))

    def activity(
        self, window_seconds: float, bucket_seconds: float, now: float | None = None
    ) -> builtins.list[QueueActivity]:
        buckets = bucket_count(window_seconds, bucket_seconds)
        params = {"now": now, "window": window_seconds, "bucket": bucket_seconds}

        def read(conn: Any) -> tuple[list[Any], list[Any]]:
            counts = conn.execute(Q["activity_counts"], params).fetchall()
            ranks = conn.execute(Q["activity_percentiles"], params).fetchall()
            return counts, ranks

        counts, ranks = self._db.run(read, transaction=True)
        return assemble(buckets, counts, ranks)

    # -- time ------------------------------------------------------------------------

    def reap_expired(self, now: float | None = None, limit: int = 1000) -> int:
        """Also settles workflow parents whose outcome a crash left uncounted."""
        params = {"now": now, "limit": limit}
        rows = self._db.run(lambda conn: _update_and_notify(conn, Q["reap_expired"], params))
        self._settle([row["id"] for row in rows if row["has_dependents"]], now, sweep=True)
        return len(rows)

    def prune(
        self,
        completed_seconds: float,
        failed_seconds: float,
        now: float | None = None,
        limit: int = 1000,
    ) -> int:
        params = {
            "now": now,
            "completed_seconds": completed_seconds,
            "failed_seconds": failed_seconds,
            "limit": limit,
        }
        rows = self._execute(Q["prune"], params)
        return int(rows[0]["n"])

    def replay(
        self,
        task_ids: Sequence[str] | None = None,
        queue: str | None = None,
        now: float | None = None,
    ) -> builtins.list[str]:
        params = {"ids": _id_list(task_ids), "queue": queue, "now": now}
        rows = self._db.run(lambda conn: _replay(conn, params), transaction=True)
        return [row["id"] for row in sorted(rows, key=lambda r: int(r["seq"]))]

    def purge(self, task_ids: Sequence[str] | None = None, queue: str | None = None) -> int:
        return self._rowcount(Q["purge"], {"ids": _id_list(task_ids), "queue": queue})

    def acquire_duty(
        self, name: str, holder: str, ttl_seconds: float, now: float | None = None
    ) -> bool:
        params = {"name": name, "holder": holder, "ttl": ttl_seconds, "now": now}
        return bool(self._execute(Q["acquire_duty"], params))

    def seconds_until_due(self, queues: Sequence[str], now: float | None = None) -> float | None:
        """Until the next task is due, or, for a due queue held back by its limits, until
        it may start one more."""
        rows = self._execute(Q["next_due"], {"queues": list(queues), "now": now})
        due = {row["queue"]: max(0.0, row["seconds"]) for row in rows}
        if not due:
            return None
        states = self._db.run(
            lambda conn: queue_states(conn, Q["queue_settings"], list(due), store_clock(conn, now))
        )
        waits = []
        for queue, seconds in due.items():
            state = states.get(queue)
            if state is None and self._is_paused(queue):
                continue
            wait = seconds if seconds > 0 or state is None else state.throttled_for()
            if wait == 0 and not self._claimable(queue, state, now):
                # Due tasks that wait on their group or key: look again soon, not at once.
                wait = THROTTLE_POLL_SECONDS
            waits.append(wait)
        return min(waits) if waits else None

    def _claimable(self, queue: str, state: QueueState | None, now: float | None) -> bool:
        """Whether a due task of `queue` may be claimed, or all wait on their group or key."""
        params: dict[str, Any] = {"queue": queue, "now": now, "limit": 1}
        query = Q["claim_candidates"]
        if state is not None and state.settings.max_per_key is not None:
            query = Q["claim_candidates_per_key"]
            params["max_per_key"] = state.settings.max_per_key
        return bool(self._execute(query, params))

    def _is_paused(self, queue: str) -> bool:
        return self.get_queue(queue).paused

    # -- queues ------------------------------------------------------------------------

    def get_queue(self, name: str) -> QueueSettings:
        rows = self._execute(Q["get_queue"], {"name": name})
        return _queue(rows[0]) if rows else QueueSettings(name)

    def set_queue(self, settings: QueueSettings) -> None:
        params = queue_params(settings)
        self._limited_cache = (0.0, frozenset())

        def store_and_wake(conn: Conn) -> None:
            conn.execute(Q["set_queue"], params)
            if not settings.paused:
                notify(conn, [settings.name])

        self._db.run(store_and_wake, transaction=True)

    def list_queues(self) -> builtins.list[QueueSettings]:
        return [_queue(row) for row in self._execute(Q["list_queues"], {})]

    # -- schedules ---------------------------------------------------------------------

    def set_schedules(self, schedules: Sequence[ScheduleSpec]) -> None:
        params = [schedule_params(s) for s in schedules]

        def store(conn: Conn) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(Q["set_schedule"], params)

        self._db.run(store, transaction=True)

    def delete_schedules(self, names: Sequence[str]) -> builtins.list[str]:
        rows = self._execute(Q["delete_schedules"], {"names": list(names)})
        return sorted(row["name"] for row in rows)

    def list_schedules(self) -> builtins.list[ScheduleSpec]:
        return [schedule_from_row(row) for row in self._execute(Q["list_schedules"], {})]

    # -- workers -----------------------------------------------------------------------

    def register_worker(self, worker: NewWorker, now: float | None = None) -> None:
        self._rowcount(Q["register_worker"], {**worker_params(worker), "now": now})

    def heartbeat_worker(self, worker_id: str, in_flight: int, now: float | None = None) -> bool:
        params = {"id": worker_id, "in_flight": in_flight, "now": now}
        return bool(self._execute(Q["heartbeat_worker"], params))

    def deregister_worker(self, worker_id: str, now: float | None = None) -> None:
        self._rowcount(Q["deregister_worker"], {"id": worker_id, "now": now})

    def list_workers(self, now: float | None = None) -> builtins.list[WorkerInfo]:
        params = {"now": now, "dead_after_beats": DEAD_AFTER_BEATS}
        return [worker_from_row(row) for row in self._execute(Q["list_workers"], params)]

    def prune_workers(self, retention_seconds: float, now: float | None = None) -> int:
        params = {"now": now, "retention_seconds": retention_seconds}
        return self._rowcount(Q["prune_workers"], params)

    # -- wake-up -----------------------------------------------------------------------

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Wait for a notification naming one of `queues` (see `listen.Listener.wait`)."""
        return self._listener.wait(queues, timeout)

    def close(self) -> None:
        self._listener.close()
        self._db.close()


# -- statements ---------------------------------------------------------------------


def _migrate(conn: Conn) -> list[int]:
    conn.execute(Q["migration_lock"])
    conn.execute(Q["migrations_table"])
    done = {row["version"] for row in conn.execute(Q["migrations_done"])}
    applied: list[int] = []
    for version, script in load_migrations("conveyor.store.postgres"):
        if version in done:
            continue
        conn.execute(script)
        conn.execute(Q["migration_record"], {"version": version})
        applied.append(version)
    return applied


def _queue(row: Row) -> QueueSettings:
    return queue_from_row(row)


def _update_and_notify(conn: Conn, query: str, params: dict[str, Any]) -> list[Row]:
    """Run an update; wake listeners of queues it made work due on.

    The notification goes out in its own autocommit statement after the update has
    committed: it is only a hint, and waiters also wake on their timeout.
    """
    rows = conn.execute(query, params).fetchall()
    notify(conn, (row["queue"] for row in rows if row.get("due")))
    return rows


def _replay(conn: Conn, params: dict[str, Any]) -> list[Row]:
    """Dead letters back to queued, with the dependents they cancelled waiting again, in
    one transaction: here the wake-up goes out at its commit, not after it (a replay is
    rare, so holding PostgreSQL's notify lock through its commit costs nothing)."""
    rows = _update_and_notify(conn, Q["replay"], params)
    workflows.revive(_runner(conn), [row["id"] for row in rows if row["has_dependents"]])
    return rows


def _runner(conn: Conn) -> workflows.Run:
    """Named queries on `conn`, inside its open transaction."""

    def run(name: str, params: dict[str, Any]) -> list[Row]:
        return conn.execute(Q[name], params).fetchall()

    return run


def _settle(conn: Conn, parents: list[str], now: float | None, sweep: bool) -> None:
    run = _runner(conn)
    due = workflows.settle(run, parents, now)
    if sweep:
        due += workflows.settle_stragglers(run, now)
    notify(conn, due)


def _callers(connection: Any) -> psycopg.Cursor[Any]:
    """A cursor on the caller's own connection, checked to be inside a transaction."""
    if not isinstance(connection, psycopg.Connection):
        raise ConfigurationError(
            f"connection= must be a psycopg (3) Connection for a PostgreSQL store, not "
            f"{type(connection).__module__}.{type(connection).__qualname__}"
        )
    idle = connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if connection.autocommit and idle:
        raise ConfigurationError(
            "connection= is in autocommit mode outside a transaction; use "
            "`with conn.transaction():`, or the task would be committed on its own"
        )
    return connection.cursor(row_factory=dict_row)


def _leases(leases: Iterable[Lease]) -> dict[str, list[Any]]:
    items = list(leases)
    return {"ids": [str(lease.task_id) for lease in items], "tokens": [x.token for x in items]}


def _id_list(task_ids: Sequence[str] | None) -> list[str] | None:
    return None if task_ids is None else [str(i) for i in task_ids]
