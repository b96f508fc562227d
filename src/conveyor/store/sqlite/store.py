"""SQLite backend.

One connection per thread (sqlite3 connections must not be shared), WAL so readers never
block the writer, and `BEGIN IMMEDIATE` for every write so two processes never deadlock
upgrading a read lock. Within a process, a lock serialises writers: SQLite admits one at a
time anyway, and waiting on a Python lock is cheaper than spinning on SQLITE_BUSY.

Wake-up without a server: `PRAGMA data_version` changes whenever another connection
commits, so an idle worker checks a counter in shared memory every few milliseconds
instead of querying the table.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from conveyor.core import payload
from conveyor.core.cron import ScheduleSpec
from conveyor.core.limits import THROTTLE_POLL_SECONDS
from conveyor.core.queue import QueueSettings
from conveyor.core.tallies import ProcessingTimes, QueueTotals
from conveyor.core.task import (
    Claimed,
    Completion,
    Failure,
    Lease,
    NewTask,
    Task,
)
from conveyor.core.workers import DEAD_AFTER_BEATS, NewWorker, WorkerInfo
from conveyor.core.workflow import WorkflowView
from conveyor.errors import ConfigurationError, StoreUnavailable
from conveyor.store import enqueue_rows, workflows
from conveyor.store.activity import assemble, bucket_count
from conveyor.store.base import Enqueued, Page, QueueActivity, QueueStats, TaskFilter
from conveyor.store.combine import Combiner, combinable
from conveyor.store.limits import QueueState
from conveyor.store.listing import list_where
from conveyor.store.rows import (
    claimed_from_rows,
    queue_from_row,
    queue_params,
    schedule_from_row,
    schedule_params,
    task_from_row,
)
from conveyor.store.sqlfile import load_migrations, load_queries
from conveyor.store.tallies import times_from_rows, totals_from_rows
from conveyor.store.workers import worker_from_row, worker_params

Q = load_queries("conveyor.store.sqlite")
SYNCHRONOUS = ("off", "normal", "full", "extra")
POLL_SECONDS = 0.004
WAL_SIZE_LIMIT = 64 * 1024 * 1024
"""Bytes the write-ahead log file keeps once a checkpoint has emptied it. SQLite reuses
the file rather than shrinking it, so without a limit one burst (a million-task enqueue)
would hold its disk space for good."""


def parse_sqlite_url(url: str) -> tuple[str, str]:
    """(path, synchronous) from `sqlite:///relative.db` or `sqlite:////absolute.db`.

    >>> parse_sqlite_url("sqlite:///data/q.db?synchronous=full")
    ('data/q.db', 'full')
    """
    parts = urlsplit(url)
    if parts.netloc:
        raise ConfigurationError(
            f"SQLite URL {url!r} has a host part {parts.netloc!r}; use sqlite:///file.db "
            "(three slashes) for a relative path or sqlite:////abs/file.db for an absolute one"
        )
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ConfigurationError(f"SQLite URL {url!r} names no file; use sqlite:///conveyor.db")
    if path == ":memory:":
        raise ConfigurationError(
            "an in-memory SQLite database cannot be shared by a worker's threads and "
            "processes; use a file such as sqlite:///conveyor.db"
        )
    options = parse_qs(parts.query)
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise ConfigurationError(
            f"SQLite URL {url!r} has unknown options {sorted(unknown)}; known: synchronous"
        )
    synchronous = options.get("synchronous", ["normal"])[0].lower()
    if synchronous not in SYNCHRONOUS:
        raise ConfigurationError(
            f"SQLite URL option synchronous={synchronous!r} must be one of {SYNCHRONOUS}"
        )
    return path, synchronous


def _by_queue(chosen: Sequence[tuple[int, int, str]]) -> dict[str, list[int]]:
    """The seqs of (priority, seq, queue) heads, by queue."""
    out: dict[str, list[int]] = {}
    for _, seq, queue in chosen:
        out.setdefault(queue, []).append(seq)
    return out


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite ends the transaction itself on some errors (SQLITE_FULL among them); a
    # second ROLLBACK would then fail and hide the error that matters.
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class SQLiteStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.path, self._synchronous = parse_sqlite_url(url)
        parent = Path(self.path).parent
        if not parent.exists():
            raise ConfigurationError(f"SQLite URL {url!r}: folder {str(parent)!r} does not exist")
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._combiner = Combiner(self._enqueue_now)

    # -- connections -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, for reads."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA journal_size_limit={int(WAL_SIZE_LIMIT)}")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite file {self.path!r}: {exc}") from exc
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, on the one connection every write of this store shares.

        SQLite lets one transaction write at a time in any case, and a connection drops
        its whole page cache when it finds the file changed by another one: writes spread
        over the threads' connections (a claim here, a completion there) started every
        transaction cold.
        """
        with self._write_lock:
            conn = self._writer
            if conn is None:
                conn = self._writer = self._open()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"SQLite file {self.path!r} is busy: {exc}") from exc
            try:
                yield conn
            except sqlite3.OperationalError as exc:
                _rollback(conn)
                raise StoreUnavailable(f"SQLite cannot write to {self.path!r}: {exc}") from exc
            except BaseException:
                _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                _rollback(conn)
                raise StoreUnavailable(f"SQLite commit to {self.path!r} failed: {exc}") from exc

    @staticmethod
    def _clock(now: float | None) -> float:
        return time.time() if now is None else now

    def now(self) -> datetime:
        """The clock of this host; reading the file's header first proves it is readable."""
        try:
            self._conn().execute("PRAGMA schema_version").fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot read SQLite file {self.path!r}: {exc}") from exc
        return datetime.fromtimestamp(time.time(), tz=UTC)

    def _task(self, row: sqlite3.Row) -> Task:
        return task_from_row(dict(row), datetime.fromtimestamp(time.time(), tz=UTC))

    # -- schema ------------------------------------------------------------------

    def migrate(self) -> list[int]:
        if not self._pending_migrations():
            # Opening a current store takes no write lock, so an app may open its store
            # while the same file is locked by the app's own transaction.
            return []
        applied: list[int] = []
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS conveyor_migrations "
                "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM conveyor_migrations")}
            for version, script in load_migrations("conveyor.store.sqlite"):
                if version in done:
                    continue
                for statement in _statements(script):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO conveyor_migrations VALUES (?, ?)", (version, time.time())
                )
                applied.append(version)
        return applied

    def _pending_migrations(self) -> bool:
        try:
            done = {r[0] for r in self._conn().execute("SELECT version FROM conveyor_migrations")}
        except sqlite3.OperationalError:
            return True  # no ledger yet
        return any(v not in done for v, _ in load_migrations("conveyor.store.sqlite"))

    # -- tasks, write --------------------------------------------------------------

    def enqueue(self, tasks: Sequence[NewTask], *, connection: Any = None) -> list[Enqueued]:
        if connection is not None:
            return self._insert(_callers(connection, self.path), tasks)
        if combinable(tasks):
            return self._combiner.enqueue(tasks)
        return self._enqueue_now(tasks)

    def _enqueue_now(self, tasks: Sequence[NewTask]) -> list[Enqueued]:
        with self._write() as conn:
            return self._insert(conn, tasks)

    def _insert(
        self, conn: sqlite3.Connection | sqlite3.Cursor, tasks: Sequence[NewTask]
    ) -> list[Enqueued]:
        if not tasks:
            return []
        now = time.time()
        graph = workflows.plan(tasks)
        queues = list({new.queue for new in tasks})
        if len(queues) == 1:
            found = conn.execute(Q["queue_defaults_one"], {"queue": queues[0]})
        else:
            found = conn.execute(Q["queue_defaults"], {"queues": json.dumps(queues)})
        defaults = enqueue_rows.queue_defaults(found)
        values = enqueue_rows.rows(tasks, graph, defaults, now, lambda new: _run_at(new, now))
        inserted = _insert_rows(conn, values)
        due = [row[RUN_AT] <= now for row in values]
        receipts = enqueue_rows.created(tasks, graph.ids, _datetime(now), due)
        if inserted < len(tasks):
            receipts = enqueue_rows.holders(receipts, _holders(conn, tasks, now), tasks)
        conn.executemany(
            Q["add_dependency"],
            [{"parent_id": p, "child_id": c, "position": n} for p, c, n in graph.edges],
        )
        return receipts

    def claim(
        self,
        queues: Sequence[str],
        limit: int,
        worker_id: str,
        lease_seconds: float,
        now: float | None = None,
    ) -> builtins.list[Claimed]:
        if limit <= 0 or not queues:
            return []
        clock = self._clock(now)
        with self._write() as conn:
            buckets = self._buckets(conn, queues, clock)
            heads: builtins.list[tuple[int, int, str]] = []
            for queue, bucket in buckets.items():
                allowed = bucket.allowance(limit)
                if allowed < limit:
                    # One more than allowed: whether the limit held a due task back.
                    found = self._candidates(conn, bucket, clock, allowed + 1)
                    if len(found) > allowed:
                        conn.execute(Q["count_throttled"], {"queue": queue})
                    found = found[:allowed]
                else:
                    found = self._candidates(conn, bucket, clock, allowed)
                heads.extend((p, s, queue) for s, p in found)
            chosen = sorted(heads)[:limit]
            if not chosen:
                return []
            leased: builtins.list[tuple[builtins.list[str], builtins.list[Any]]] = []
            for queue, seqs in _by_queue(chosen).items():
                lease = buckets[queue].settings.lease_seconds
                params = {
                    "seqs": json.dumps(seqs),
                    "worker_id": worker_id,
                    "lease_seconds": lease_seconds if lease is None else lease,
                    "now": clock,
                }
                cursor = conn.cursor()
                cursor.row_factory = None
                rows = cursor.execute(Q["claim"], params).fetchall()
                if rows:
                    leased.append(([d[0] for d in cursor.description], rows))
            self._spend(conn, buckets, [queue for _, _, queue in chosen], clock)
        # Built after the commit: the next writer (a completion) need not wait for it.
        claimed = [c for columns, rows in leased for c in claimed_from_rows(columns, rows)]
        claimed.sort(key=lambda c: (c.task.priority, c.task.seq))
        return claimed

    def _buckets(
        self, conn: sqlite3.Connection, queues: Sequence[str], clock: float
    ) -> dict[str, QueueState]:
        """Each unpaused queue with what its limits allow right now."""
        rows = {
            r["name"]: r
            for r in conn.execute(Q["queue_settings"], {"queues": json.dumps(list(queues))})
        }
        states: dict[str, QueueState] = {}
        for queue in dict.fromkeys(queues):
            row = rows.get(queue)
            settings = _queue(row) if row is not None else QueueSettings(queue)
            if settings.paused:
                continue
            running = 0
            if settings.max_concurrent is not None:
                running = conn.execute(Q["running_count"], {"queue": queue}).fetchone()[0]
            states[queue] = QueueState.of(settings, row, running, clock)
        return states

    def _candidates(
        self, conn: sqlite3.Connection, state: QueueState, clock: float, allowed: int
    ) -> builtins.list[tuple[int, int]]:
        params = {"queue": state.settings.name, "now": clock, "limit": allowed}
        if state.settings.max_per_key is None:
            return [tuple(r) for r in conn.execute(Q["claim_candidates"], params)]
        params["max_per_key"] = state.settings.max_per_key
        return [tuple(r) for r in conn.execute(Q["claim_candidates_per_key"], params)]

    @staticmethod
    def _spend(
        conn: sqlite3.Connection,
        states: dict[str, QueueState],
        started: builtins.list[str],
        clock: float,
    ) -> None:
        for queue, count in Counter(started).items():
            tokens = states[queue].tokens
            if tokens is not None:
                params = {"queue": queue, "tokens": tokens - count, "now": clock}
                conn.execute(Q["spend_tokens"], params)

    def _per_lease(
        self, query: str, items: Sequence[dict[str, Any]], now: float | None
    ) -> list[str]:
        if not items:
            return []
        clock = self._clock(now)
        accepted: list[str] = []
        parents: list[str] = []
        with self._write() as conn:
            for item in items:
                row = conn.execute(query, {"now": clock, **item}).fetchone()
                if row is not None:
                    accepted.append(item["id"])
                    if dict(row).get("has_dependents"):
                        parents.append(item["id"])
            if parents:
                workflows.settle(_runner(conn), parents, clock)
        return accepted

    def heartbeat(
        self, leases: Sequence[Lease], lease_seconds: float, now: float | None = None
    ) -> list[str]:
        items = [
            {"id": lease.task_id, "token": lease.token, "lease_seconds": lease_seconds}
            for lease in leases
        ]
        return self._per_lease(Q["heartbeat"], items, now)

    def complete(self, completions: Sequence[Completion], now: float | None = None) -> list[str]:
        """One statement for the whole batch (it is the hot path of every worker)."""
        if not completions:
            return []
        clock = self._clock(now)
        leases = json.dumps(
            [[c.lease.task_id, c.lease.token, payload.dumps(c.result)] for c in completions]
        )
        with self._write() as conn:
            rows = conn.execute(Q["complete"], {"leases": leases, "now": clock}).fetchall()
            parents = [row["id"] for row in rows if row["has_dependents"]]
            if parents:
                workflows.settle(_runner(conn), parents, clock)
        accepted = {row["id"] for row in rows}
        return list(
            dict.fromkeys(c.lease.task_id for c in completions if c.lease.task_id in accepted)
        )

    def fail(self, failures: Sequence[Failure], now: float | None = None) -> list[str]:
        items = [
            {
                "id": f.lease.task_id,
                "token": f.lease.token,
                "retry_delay": f.retry_delay,
                "error": payload.dumps(f.error.to_json()),
            }
            for f in failures
        ]
        return self._per_lease(Q["fail"], items, now)

    def release(self, leases: Sequence[Lease], now: float | None = None) -> list[str]:
        items = [{"id": lease.task_id, "token": lease.token} for lease in leases]
        return self._per_lease(Q["release"], items, now)

    def cancel(self, task_ids: Sequence[str], now: float | None = None) -> list[str]:
        return self._per_lease(Q["cancel"], [{"id": i} for i in task_ids], now)

    # -- tasks, read ---------------------------------------------------------------

    def get(self, task_id: str) -> Task | None:
        row = self._conn().execute(Q["get"], {"id": str(task_id)}).fetchone()
        return None if row is None else self._task(row)

    def list(self, filter: TaskFilter, limit: int = 50, cursor: str | None = None) -> Page:
        where, params = list_where(filter, cursor, lambda n: f":{n}", ":now")
        params["now"] = time.time()
        sql = f"SELECT * FROM conveyor_tasks {where} ORDER BY seq DESC LIMIT :limit"
        rows = self._conn().execute(sql, {**params, "limit": limit + 1}).fetchall()
        tasks = [self._task(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(tasks, str(tasks[-1].seq) if more and tasks else None)

    def workflow(self, workflow_id: str) -> WorkflowView | None:
        conn = self._conn()
        params = {"workflow_id": str(workflow_id)}
        tasks = [self._task(r) for r in conn.execute(Q["workflow_tasks"], params)]
        if not tasks:
            return None
        edges = [(r["parent_id"], r["child_id"]) for r in conn.execute(Q["workflow_edges"], params)]
        return WorkflowView(str(workflow_id), tasks, edges)

    def workflow_counts(self, workflow_id: str, now: float | None = None) -> dict[str, int]:
        params = {"workflow_id": str(workflow_id), "now": self._clock(now)}
        return {r["state"]: r["n"] for r in self._conn().execute(Q["workflow_counts"], params)}

    def stats(self, now: float | None = None) -> builtins.list[QueueStats]:
        clock = self._clock(now)
        by_queue: dict[str, QueueStats] = {}
        for row in self._conn().execute(Q["stats"], {"now": clock}):
            stats = by_queue.setdefault(row["queue"], QueueStats(row["queue"]))
            stats.counts[row["state"]] = row["n"]
            if row["oldest_due"] is not None:
                by_queue[row["queue"]] = QueueStats(
                    stats.queue, stats.counts, max(0.0, clock - row["oldest_due"])
                )
        return [by_queue[q] for q in sorted(by_queue)]

    def totals(self) -> builtins.list[QueueTotals]:
        return totals_from_rows(dict(r) for r in self._conn().execute(Q["totals"]))

    def processing_times(
        self, window_seconds: float, buckets: Sequence[float], now: float | None = None
    ) -> builtins.list[ProcessingTimes]:
        params = {
            "now": self._clock(now),
            "window_seconds": window_seconds,
            "buckets": json.dumps(sorted(buckets)),
        }
        return times_from_rows(dict(r) for r in self._conn().execute(Q["processing_times"], params))

    def activity(
        self, window_seconds: float, bucket_seconds: float, now: float | None = None
    ) -> builtins.list[QueueActivity]:
        buckets = bucket_count(window_seconds, bucket_seconds)
        params = {"now": self._clock(now), "window": window_seconds, "bucket": bucket_seconds}
        conn = self._conn()
        # One read transaction, so the counts and the percentiles see the same snapshot.
        conn.execute("BEGIN")
        try:
            counts = conn.execute(Q["activity_counts"], params).fetchall()
            ranks = conn.execute(Q["activity_percentiles"], params).fetchall()
        finally:
            conn.execute("COMMIT")
        return assemble(buckets, counts, ranks)

    # -- time ------------------------------------------------------------------------

    def reap_expired(self, now: float | None = None, limit: int = 1000) -> int:
        """Also settles workflow parents whose outcome a crash left uncounted."""
        clock = self._clock(now)
        with self._write() as conn:
            rows = conn.execute(Q["reap_expired"], {"now": clock, "limit": limit}).fetchall()
            run = _runner(conn)
            workflows.settle(run, [r["id"] for r in rows if r["has_dependents"]], clock)
            workflows.settle_stragglers(run, clock)
        return len(rows)

    def prune(
        self,
        completed_seconds: float,
        failed_seconds: float,
        now: float | None = None,
        limit: int = 1000,
    ) -> int:
        params = {
            "now": self._clock(now),
            "completed_seconds": completed_seconds,
            "failed_seconds": failed_seconds,
            "limit": limit,
        }
        with self._write() as conn:
            gone = json.dumps([row["id"] for row in conn.execute(Q["prune"], params).fetchall()])
            conn.execute(Q["prune_child_edges"], {"ids": gone})
            conn.execute(Q["prune_parent_edges"], {"ids": gone})
        return len(json.loads(gone))

    def replay(
        self,
        task_ids: Sequence[str] | None = None,
        queue: str | None = None,
        now: float | None = None,
    ) -> builtins.list[str]:
        params = {
            "ids": None if task_ids is None else json.dumps(list(task_ids)),
            "queue": queue,
            "now": self._clock(now),
        }
        with self._write() as conn:
            rows = conn.execute(Q["replay"], params).fetchall()
            workflows.revive(_runner(conn), [r["id"] for r in rows if r["has_dependents"]])
            return [r["id"] for r in rows]

    def purge(self, task_ids: Sequence[str] | None = None, queue: str | None = None) -> int:
        params = {"ids": None if task_ids is None else json.dumps(list(task_ids)), "queue": queue}
        with self._write() as conn:
            return conn.execute(Q["purge"], params).rowcount

    def acquire_duty(
        self, name: str, holder: str, ttl_seconds: float, now: float | None = None
    ) -> bool:
        params = {"name": name, "holder": holder, "ttl": ttl_seconds, "now": self._clock(now)}
        with self._write() as conn:
            return conn.execute(Q["acquire_duty"], params).fetchone() is not None

    def seconds_until_due(self, queues: Sequence[str], now: float | None = None) -> float | None:
        clock = self._clock(now)
        conn = self._conn()
        waits: builtins.list[float] = []
        for queue, state in self._buckets(conn, queues, clock).items():
            row = conn.execute(Q["next_due"], {"queue": queue}).fetchone()
            if row is None or row[0] is None:
                continue
            due = max(0.0, float(row[0]) - clock)
            if (
                due == 0
                and state.throttled_for() == 0
                and not self._candidates(conn, state, clock, 1)
            ):
                # Due tasks that wait on their group or key: look again soon, not at once.
                due = THROTTLE_POLL_SECONDS
            waits.append(due if due > 0 else state.throttled_for())
        return min(waits) if waits else None

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        conn = self._conn()
        start = conn.execute("PRAGMA data_version").fetchone()[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            if conn.execute("PRAGMA data_version").fetchone()[0] != start:
                return True
        return False

    def get_queue(self, name: str) -> QueueSettings:
        row = self._conn().execute(Q["get_queue"], {"name": name}).fetchone()
        return QueueSettings(name) if row is None else _queue(row)

    def set_queue(self, settings: QueueSettings) -> None:
        params = {**queue_params(settings), "now": time.time()}
        with self._write() as conn:
            conn.execute(Q["set_queue"], params)

    def list_queues(self) -> builtins.list[QueueSettings]:
        return [_queue(row) for row in self._conn().execute(Q["list_queues"])]

    def set_schedules(self, schedules: Sequence[ScheduleSpec]) -> None:
        now = time.time()
        with self._write() as conn:
            conn.executemany(
                Q["set_schedule"], [{**schedule_params(s), "now": now} for s in schedules]
            )

    def delete_schedules(self, names: Sequence[str]) -> builtins.list[str]:
        with self._write() as conn:
            rows = conn.execute(Q["delete_schedules"], {"names": json.dumps(list(names))})
            return sorted(row["name"] for row in rows)

    def list_schedules(self) -> builtins.list[ScheduleSpec]:
        return [schedule_from_row(dict(r)) for r in self._conn().execute(Q["list_schedules"])]

    # -- workers -------------------------------------------------------------------

    def register_worker(self, worker: NewWorker, now: float | None = None) -> None:
        with self._write() as conn:
            conn.execute(Q["register_worker"], {**worker_params(worker), "now": self._clock(now)})

    def heartbeat_worker(self, worker_id: str, in_flight: int, now: float | None = None) -> bool:
        params = {"id": worker_id, "in_flight": in_flight, "now": self._clock(now)}
        with self._write() as conn:
            return conn.execute(Q["heartbeat_worker"], params).fetchone() is not None

    def deregister_worker(self, worker_id: str, now: float | None = None) -> None:
        with self._write() as conn:
            conn.execute(Q["deregister_worker"], {"id": worker_id, "now": self._clock(now)})

    def list_workers(self, now: float | None = None) -> builtins.list[WorkerInfo]:
        params = {"now": self._clock(now), "dead_after_beats": DEAD_AFTER_BEATS}
        return [worker_from_row(dict(r)) for r in self._conn().execute(Q["list_workers"], params)]

    def prune_workers(self, retention_seconds: float, now: float | None = None) -> int:
        params = {"now": self._clock(now), "retention_seconds": retention_seconds}
        with self._write() as conn:
            return conn.execute(Q["prune_workers"], params).rowcount

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
        self._writer = None


def _queue(row: sqlite3.Row) -> QueueSettings:
    return queue_from_row(dict(row))


def _statements(script: str) -> builtins.list[str]:
    """Split a migration into statements; comments go first, as they may hold semicolons.

    A statement ends where SQLite says one is complete, so a trigger's body (statements
    between BEGIN and END) stays in one piece.
    """
    statements: builtins.list[str] = []
    pending = ""
    for line in script.splitlines():
        if line.lstrip().startswith("--"):
            continue
        pending += line + "\n"
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def _runner(conn: sqlite3.Connection) -> workflows.Run:
    """Named queries on `conn`, inside its open transaction; lists travel as JSON."""

    def run(name: str, params: dict[str, Any]) -> builtins.list[dict[str, Any]]:
        values = {k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}
        return [dict(row) for row in conn.execute(Q[name], values)]

    return run


def _callers(connection: Any, path: str) -> sqlite3.Cursor:
    """The caller's own connection, checked: it must be sqlite3, on our file, and in a
    transaction (or about to open one), else the task would not share its fate."""
    if not isinstance(connection, sqlite3.Connection):
        raise ConfigurationError(
            f"connection= must be a sqlite3.Connection for a SQLite store, not "
            f"{type(connection).__module__}.{type(connection).__qualname__}"
        )
    files = [row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"]
    if not files or Path(files[0]).resolve() != Path(path).resolve():
        raise ConfigurationError(
            f"connection= is open on {files[0] if files else 'no file'!r}, not on this "
            f"store's file {path!r}"
        )
    if connection.isolation_level is None and not connection.in_transaction:
        raise ConfigurationError(
            "connection= is in autocommit mode with no transaction open; run BEGIN first, "
            "or the task would be committed on its own"
        )
    cursor = connection.cursor()
    cursor.row_factory = sqlite3.Row  # the caller's own row factory stays as it was
    return cursor


ROWS_PER_INSERT = 50
"""Tasks per INSERT statement in a bulk enqueue."""
RUN_AT = enqueue_rows.COLUMNS.index("run_at")
_ROW = "(" + ", ".join("?" * len(enqueue_rows.COLUMNS)) + ")"
_ENQUEUE_MANY = Q["enqueue"].replace(_ROW, ", ".join([_ROW] * ROWS_PER_INSERT))


def _insert_rows(conn: sqlite3.Connection | sqlite3.Cursor, values: list[tuple[Any, ...]]) -> int:
    """Insert the rows, `ROWS_PER_INSERT` per statement and the rest one by one; return
    how many were inserted (the others clashed on an idempotency key)."""
    whole = len(values) - len(values) % ROWS_PER_INSERT
    inserted = 0
    if whole:
        chunks = (
            tuple(chain.from_iterable(values[start : start + ROWS_PER_INSERT]))
            for start in range(0, whole, ROWS_PER_INSERT)
        )
        inserted += conn.executemany(_ENQUEUE_MANY, chunks).rowcount
    if whole < len(values):
        inserted += conn.executemany(Q["enqueue"], values[whole:]).rowcount
    return inserted


def _holders(
    conn: sqlite3.Connection | sqlite3.Cursor, tasks: Sequence[NewTask], now: float
) -> dict[tuple[str, str], Enqueued]:
    """The tasks holding the batch's idempotency keys (ours, or earlier ones), by key."""
    found: dict[tuple[str, str], Enqueued] = {}
    for new in tasks:
        key = new.idempotency_key
        if key is None or (new.queue, key) in found:
            continue
        params = {"queue": new.queue, "idempotency_key": key}
        row = conn.execute(Q["get_by_idempotency_key"], params).fetchone()
        found[(new.queue, key)] = enqueue_rows.holder(row, _datetime(row["created_at"]), now)
    return found


def _run_at(new: NewTask, now: float) -> float:
    return now + new.delay if new.run_at is None else new.run_at.timestamp()


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
