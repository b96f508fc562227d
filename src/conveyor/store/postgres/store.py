"""PostgreSQL backend.

Connections come from a `psycopg_pool.ConnectionPool`, opened on first use, in autocommit
mode: an operation that is one statement is one transaction without the two extra round
trips of BEGIN and COMMIT; operations of several statements (enqueue, migrate) open an
explicit transaction. Batches travel as parallel arrays (a bulk enqueue as one JSON
document) and are unnested in SQL, so a batch of a hundred acknowledgements is one
statement, not a hundred. Statements lock the rows of a batch in `seq` order, so
overlapping batches queue up instead of deadlocking (see the head of `queries.sql`).

Failure: every `psycopg.OperationalError` and pool timeout becomes `StoreUnavailable`,
naming host, port and database (never the password). A pooled connection is checked as
it is handed out, so after PostgreSQL restarts the pool drops dead connections and dials
again by itself. Deadlocks and serialisation failures are retried: they roll back the
whole statement or transaction, so a retry is safe.

Wake-up: every write that makes work due now (enqueue, a retry without delay, release,
the reaper, replay, unpausing a queue) sends `pg_notify('conveyor', queue)`, and
`wait_for_work` listens on a dedicated autocommit connection of its own (a pooled
connection would carry its LISTEN into whatever borrows it next).
"""

from __future__ import annotations

import builtins
import re
import select
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, TupleRow, dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from conveyor.core import payload
from conveyor.core.limits import THROTTLE_POLL_SECONDS
from conveyor.core.queue import QueueSettings
from conveyor.core.task import Claimed, Completion, Failure, Lease, NewTask, Status, Task
from conveyor.errors import ConfigurationError, PayloadError, StoreUnavailable
from conveyor.store.base import Enqueued, Page, QueueStats, TaskFilter
from conveyor.store.limits import QueueState
from conveyor.store.rows import DEFAULTS, queue_from_row, queue_params, task_from_row
from conveyor.store.sqlfile import load_migrations, load_queries

Q = load_queries("conveyor.store.postgres")
CHANNEL = "conveyor"
BATCH_ROWS = 5000
"""Rows per INSERT in a bulk enqueue; all chunks share one transaction."""
RETRIES = 3
LIMITED_CACHE_SECONDS = 1.0
"""Attempts at a statement or transaction that PostgreSQL rolled back (deadlock)."""
CONNECT_TIMEOUT = 5
READ_SLICE = 0.5
"""Longest single read of the listener: close() waits for a reader to let go of it."""
RECONNECT_SECONDS = 10.0
"""How long the pool's backoff keeps redialling before it waits for demand again, which
bounds how long the pool stays cold after PostgreSQL comes back."""

Conn = psycopg.Connection[DictRow]
Row = dict[str, Any]
T = TypeVar("T")


class PostgresStore:
    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 5.0
    ) -> None:
        """`timeout`: seconds to wait for a connection before raising StoreUnavailable."""
        self.url = url
        self._conninfo, self._where = _conninfo(url)
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Conn] | None = None
        self._listener: psycopg.Connection[TupleRow] | None = None
        self._listener_state = threading.Condition()
        self._heard: set[str] = set()
        self._reading = False
        self._retired: list[psycopg.Connection[TupleRow]] = []
        self._limited_cache: tuple[float, frozenset[str]] = (0.0, frozenset())

    # -- connections -------------------------------------------------------------

    def _get_pool(self) -> ConnectionPool[Conn]:
        with self._lock:
            if self._pool is None:
                pool = ConnectionPool(
                    self._conninfo,
                    connection_class=psycopg.Connection[DictRow],
                    kwargs={"autocommit": True, "row_factory": dict_row},
                    min_size=self._min_size,
                    max_size=self._max_size,
                    open=False,
                    configure=_configure,
                    check=_check,
                    timeout=self._timeout,
                    reconnect_timeout=RECONNECT_SECONDS,
                    name=f"conveyor@{self._where}",
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def _run(self, work: Callable[[Conn], T], *, transaction: bool = False) -> T:
        """Run `work` on a pooled connection, turning driver errors into Conveyor's."""
        for attempt in range(1, RETRIES + 1):
            try:
                return self._attempt(work, transaction)
            except psycopg.errors.TransactionRollback as exc:
                if attempt == RETRIES:
                    raise StoreUnavailable(
                        f"PostgreSQL at {self._where} rolled the operation back "
                        f"{RETRIES} times: {_oneline(exc)}"
                    ) from exc
            except PoolTimeout as exc:
                raise StoreUnavailable(self._why_no_connection()) from exc
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(
                    f"PostgreSQL at {self._where} failed: {_oneline(exc)}"
                ) from exc
            except psycopg.errors.UntranslatableCharacter as exc:
                raise PayloadError(
                    "PostgreSQL cannot store the character \\u0000 in text or JSON "
                    f"(a name, key, argument, result or error): {_oneline(exc)}"
                ) from exc
            except psycopg.errors.UndefinedTable as exc:
                raise StoreUnavailable(
                    f"PostgreSQL at {self._where} has no Conveyor schema; run migrate() "
                    f"first ({_oneline(exc)})"
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, work: Callable[[Conn], T], transaction: bool) -> T:
        with self._get_pool().connection() as conn:
            if not transaction:
                return work(conn)
            with conn.transaction():
                return work(conn)

    def _why_no_connection(self) -> str:
        """Why the pool had nothing to give: dial once ourselves to learn the reason."""
        try:
            with psycopg.Connection.connect(self._conninfo, connect_timeout=2):
                pass
        except psycopg.OperationalError as exc:
            return f"cannot connect to PostgreSQL at {self._where}: {_oneline(exc)}"
        return (
            f"no connection to PostgreSQL at {self._where} came free within "
            f"{self._timeout:g} s (all {self._max_size} pooled connections busy)"
        )

    def _execute(self, query: str, params: dict[str, Any]) -> list[Row]:
        return self._run(lambda conn: conn.execute(query, params).fetchall())

    def _rowcount(self, query: str, params: dict[str, Any]) -> int:
        return self._run(lambda conn: conn.execute(query, params).rowcount)

    def now(self) -> datetime:
        rows = self._execute(Q["now"], {})
        value: datetime = rows[0]["now"]
        return value.astimezone(UTC)

    # -- schema ------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply pending migrations under an advisory lock, so concurrent starts queue up."""
        return self._run(_migrate, transaction=True)

    # -- tasks, write --------------------------------------------------------------

    def enqueue(self, tasks: Sequence[NewTask]) -> list[Enqueued]:
        if not tasks:
            return []
        news = [(str(uuid.uuid4()), new) for new in tasks]
        return self._run(lambda conn: _enqueue(conn, news), transaction=True)

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
        _claim_limited), so both kinds share one priority order."""
        if limit <= 0 or not queues:
            return []
        self._answer_heard(queues)
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
            claimed = self._run(
                lambda conn: _claim_limited(conn, params, limited), transaction=True
            )
        else:
            claimed = [_claimed(row) for row in self._execute(Q["claim"], params)]
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
        rows = self._run(lambda conn: _update_and_notify(conn, query, params))
        accepted = {row["id"] for row in rows}
        return list(dict.fromkeys(i for i in ids if i in accepted))

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
            "retry_delays": [f.retry_delay for f in failures],
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
        return _task(rows[0]) if rows else None

    def list(self, filter: TaskFilter, limit: int = 50, cursor: str | None = None) -> Page:
        where, params = _list_where(filter, cursor)
        sql = (
            f"SELECT *, now() AS db_now FROM conveyor_tasks {where} "
            "ORDER BY seq DESC LIMIT %(limit)s"
        )
        rows = self._execute(sql, {**params, "limit": limit + 1})
        tasks = [_task(r) for r in rows[:limit]]
        more = len(rows) > limit
        return Page(tasks, str(tasks[-1].seq) if more and tasks else None)

    def stats(self, now: float | None = None) -> builtins.list[QueueStats]:
        counts: dict[str, dict[str, int]] = {}
        ages: dict[str, float] = {}
        for row in self._execute(Q["stats"], {"now": now}):
            counts.setdefault(row["queue"], {})[row["state"]] = row["n"]
            if row["oldest_age"] is not None:
                ages[row["queue"]] = max(0.0, row["oldest_age"])
        return [QueueStats(q, counts[q], ages.get(q)) for q in sorted(counts)]

    # -- time ------------------------------------------------------------------------

    def reap_expired(self, now: float | None = None, limit: int = 1000) -> int:
        params = {"now": now, "limit": limit}
        return len(self._run(lambda conn: _update_and_notify(conn, Q["reap_expired"], params)))

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
        return self._rowcount(Q["prune"], params)

    def replay(
        self,
        task_ids: Sequence[str] | None = None,
        queue: str | None = None,
        now: float | None = None,
    ) -> builtins.list[str]:
        params = {"ids": _id_list(task_ids), "queue": queue, "now": now}
        rows = self._run(lambda conn: _update_and_notify(conn, Q["replay"], params))
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
        states = self._run(
            lambda conn: _states(conn, Q["queue_settings"], list(due), _store_clock(conn, now))
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
                _notify(conn, [settings.name])

        self._run(store_and_wake, transaction=True)

    def list_queues(self) -> builtins.list[QueueSettings]:
        return [_queue(row) for row in self._execute(Q["list_queues"], {})]

    # -- wake-up -----------------------------------------------------------------------

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        """Wait for a notification naming one of `queues`.

        Any number of threads may wait at once (a worker's loop and the API's announcer
        share a store): one of them reads the listening connection, the others wait on a
        condition it signals. What is heard is remembered per queue until a waiter for
        that queue takes it, or a claim of that queue makes it moot (`_answer_heard`).
        """
        wanted = set(queues)
        deadline = time.monotonic() + timeout
        while True:
            with self._listener_state:
                if self._heard & wanted:
                    self._heard -= wanted
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._reading:
                    self._listener_state.wait(remaining)
                    continue
                self._reading = True
            try:
                verdict = self._read(min(remaining, READ_SLICE))
            finally:
                self._done_reading()
            if verdict is not None:
                return verdict

    def _read(self, timeout: float) -> bool | None:
        """As the one reader: add what arrives within `timeout` to `_heard`; None then.

        A listener that broke (server restart) may have lost notifications: True, "maybe
        woken", and the next wait dials again. False when close() retired it meanwhile.
        """
        conn = self._listening()
        try:
            payloads = self._receive(conn, 0.0) or self._receive(conn, timeout, stop_after=1)
        except psycopg.OperationalError:
            if self._listener is not conn:
                return False
            self._drop_listener(conn)
            return True
        if self._listener is not conn:
            return False
        with self._listener_state:
            self._heard.update(payloads)
        return None

    def _answer_heard(self, queues: Sequence[str]) -> None:
        """Forget notifications for `queues` that came before this claim: it sees their work.

        This also drains the listener while a busy worker never waits. Unread, the
        notifications would fill the socket, block the listening backend and hold back
        the server's notification queue, which makes every NOTIFY fail once it is full.
        """
        with self._listener_state:
            conn = self._listener
            if self._reading or conn is None:
                return
            self._reading = True
        try:
            payloads = self._receive(conn, 0.0)
        except psycopg.OperationalError:
            self._drop_listener(conn)
            payloads = []
        finally:
            self._done_reading()
        with self._listener_state:
            self._heard.update(payloads)
            self._heard -= set(queues)

    @staticmethod
    def _receive(
        conn: psycopg.Connection[TupleRow], timeout: float, stop_after: int | None = None
    ) -> builtins.list[str]:
        return [n.payload for n in conn.notifies(timeout=timeout, stop_after=stop_after)]

    def _done_reading(self) -> None:
        """Hand the listener on, and close the ones close() retired while we read them.

        close() never closes a listener a thread is reading: freeing a connection under
        a thread blocked on its socket is not safe.
        """
        with self._listener_state:
            self._reading = False
            retired, self._retired = self._retired, []
            self._listener_state.notify_all()
        for conn in retired:
            conn.close()

    def _listening(self) -> psycopg.Connection[TupleRow]:
        with self._listener_state:
            conn = self._listener
        if conn is not None and not conn.closed:
            return conn
        try:
            fresh = psycopg.Connection.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot listen for work on PostgreSQL at {self._where}: {_oneline(exc)}"
            ) from exc
        try:
            fresh.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            fresh.close()
            raise StoreUnavailable(
                f"cannot listen for work on PostgreSQL at {self._where}: {_oneline(exc)}"
            ) from exc
        with self._listener_state:
            self._listener = fresh
        return fresh

    def _drop_listener(self, conn: psycopg.Connection[TupleRow]) -> None:
        with self._listener_state:
            if self._listener is conn:
                self._listener = None
        conn.close()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        with self._listener_state:
            listener, self._listener = self._listener, None
            if listener is not None and self._reading:
                self._retired.append(listener)
                listener = None
        if listener is not None:
            listener.close()
        if pool is not None:
            pool.close()


# -- connection helpers -------------------------------------------------------------

_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+psycopg\d?)?://", re.IGNORECASE)


def _conninfo(url: str) -> tuple[str, str]:
    """(libpq conninfo, "host:port/dbname" for messages) from a store URL."""
    if not _SCHEME.match(url):
        raise ConfigurationError(
            f"PostgreSQL URL must start with postgresql:// (got {url.split('://', 1)[0]!r})"
        )
    libpq_url = _SCHEME.sub("postgresql://", url, count=1)
    try:
        params = conninfo_to_dict(libpq_url)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"PostgreSQL URL is not valid: {_oneline(exc)}") from None
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
    params.setdefault("application_name", "conveyor")
    host = str(params.get("host") or "localhost")
    where = f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user')}"
    return make_conninfo("", **params), where


def _configure(conn: Conn) -> None:
    """UTC datetimes, and JSON columns as text.

    `rows.task_from_row` decodes any str it is given as JSON; with psycopg's own jsonb
    loader a result that is a JSON string ("done") would arrive already decoded and be
    decoded a second time.
    """
    conn.execute("SET TIME ZONE 'UTC'")
    for name in ("json", "jsonb"):
        conn.adapters.register_loader(name, TextLoader)


def _check(conn: Conn) -> None:
    """Make sure a pooled connection still works before handing it out.

    An idle connection has nothing to read unless the server hung up on it (or sent a
    message we did not ask for), so a readable socket triggers the pool's full
    round-trip check; a quiet one costs one non-blocking poll.
    """
    if conn.closed or not hasattr(select, "poll"):
        ConnectionPool.check_connection(conn)
        return
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        ConnectionPool.check_connection(conn)


def _oneline(exc: BaseException) -> str:
    return " ".join(str(exc).split())


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


def _claimed(row: Row) -> Claimed:
    return Claimed(_task(row), Lease(str(row["id"]), row["lease_token"]))


def _store_clock(conn: Conn, now: float | None) -> float:
    """`now` when a test gives one, else the database's clock as it reads at this moment."""
    if now is not None:
        return now
    value: float = conn.execute(Q["clock"], {}).fetchone()["now"]  # type: ignore[index]
    return value


def _states(conn: Conn, query: str, queues: Sequence[str], clock: float) -> dict[str, QueueState]:
    """The unpaused queues among `queues`, with what their limits allow now."""
    return _states_of(conn, conn.execute(query, {"queues": list(queues)}).fetchall(), clock)


def _states_of(conn: Conn, rows: list[Row], clock: float) -> dict[str, QueueState]:
    states: dict[str, QueueState] = {}
    for row in rows:
        row["tokens_at"] = row.pop("tokens_at_seconds")
        settings = queue_from_row(row)
        if settings.paused:
            continue
        running = 0
        if settings.max_concurrent is not None:
            running = conn.execute(Q["running_count"], {"queue": settings.name}).fetchone()["n"]  # type: ignore[index]
        states[settings.name] = QueueState.of(settings, row, running, clock)
    return states


def _claim_limited(conn: Conn, params: dict[str, Any], limited: list[str]) -> list[Claimed]:
    """Claim from `limited` queues with their settings rows locked: concurrent claims of
    one queue take turns, so its running count and token bucket cannot change under us.

    The other queues asked for are claimed in the same transaction, as many of their
    tasks as rank among the best `limit` of both kinds: claiming them first would starve
    a limited queue behind a busy plain one, whatever its tasks' priority.
    """
    locked = conn.execute(Q["lock_queues"], {"queues": limited}).fetchall()
    # The store's clock, read once the rows are ours: claims of a queue take turns, so
    # its bucket's clock only moves forward, and a worker host's clock plays no part.
    clock = _store_clock(conn, params["now"])
    states = _states_of(conn, locked, clock)
    heads: list[tuple[int, int, str]] = []
    for queue, state in states.items():
        allowed = state.allowance(params["limit"])
        if allowed <= 0:
            continue
        query = Q["claim_candidates"]
        wanted = {"queue": queue, "now": clock, "limit": allowed}
        if state.settings.max_per_key is not None:
            query = Q["claim_candidates_per_key"]
            wanted["max_per_key"] = state.settings.max_per_key
        heads.extend(
            (r["priority"], r["seq"], queue) for r in conn.execute(query, wanted).fetchall()
        )
    claimed: list[Claimed] = []
    plain = [q for q in params["queues"] if q not in limited]
    if plain:
        peeked = {
            row["seq"]: (row["priority"], row["seq"], queue)
            for queue in plain
            for row in conn.execute(
                Q["claim_candidates"], {"queue": queue, "now": clock, "limit": params["limit"]}
            ).fetchall()
        }
        ranked = sorted([*heads, *peeked.values()])[: params["limit"]]
        take = sum(1 for _, seq, _ in ranked if seq in peeked)
        if take:
            rows = conn.execute(Q["claim"], {**params, "queues": plain, "limit": take})
            claimed = [_claimed(row) for row in rows.fetchall()]
    chosen = sorted(heads)[: params["limit"] - len(claimed)]
    if not chosen:
        return claimed
    seqs = [seq for _, seq, _ in chosen]
    rows = conn.execute(Q["claim_limited"], {**params, "now": clock, "seqs": seqs})
    claimed += [_claimed(row) for row in rows.fetchall()]
    for queue, count in Counter(q for _, _, q in chosen).items():
        tokens = states[queue].tokens
        if tokens is not None:
            conn.execute(
                Q["spend_tokens"], {"queue": queue, "tokens": tokens - count, "now": clock}
            )
    return claimed


def _task(row: Row) -> Task:
    """A task row, shown against the clock its statement ran at (`db_now`)."""
    return task_from_row(row, row.pop("db_now"))


def _enqueue(conn: Conn, news: Sequence[tuple[str, NewTask]]) -> list[Enqueued]:
    """Insert, then look up the tasks that already held an idempotency key.

    The lookup runs in a fresh statement snapshot, so it sees a row another transaction
    committed while our INSERT waited on it. If that row was pruned in between, our key
    is free again: insert those tasks once more.
    """
    created: dict[str, Task] = {}
    existing: dict[tuple[str, str | None], Task] = {}
    pending = list(news)
    for _ in range(RETRIES):
        created.update(_insert(conn, pending))
        existing.update(_existing(conn, [n for i, n in pending if i not in created]))
        pending = [
            (i, n)
            for i, n in pending
            if i not in created and (n.queue, n.idempotency_key) not in existing
        ]
        if not pending:
            break
    else:
        raise StoreUnavailable("an idempotency key kept changing hands during enqueue")
    _notify(conn, (t.queue for t in created.values() if t.status is Status.QUEUED))
    return [
        Enqueued(created[i], True)
        if i in created
        else Enqueued(existing[(n.queue, n.idempotency_key)], False)
        for i, n in news
    ]


def _insert(conn: Conn, news: Sequence[tuple[str, NewTask]]) -> dict[str, Task]:
    created: dict[str, Task] = {}
    for start in range(0, len(news), BATCH_ROWS):
        rows = conn.execute(Q["enqueue"], _enqueue_params(news[start : start + BATCH_ROWS]))
        for row in rows.fetchall():
            task = _task(row)
            created[task.id] = task
    return created


def _existing(conn: Conn, news: Sequence[NewTask]) -> dict[tuple[str, str | None], Task]:
    if not news:
        return {}
    params = {
        "queue": [n.queue for n in news],
        "idempotency_key": [n.idempotency_key for n in news],
    }
    found = {}
    for row in conn.execute(Q["get_by_idempotency_key"], params).fetchall():
        task = _task(row)
        found[(task.queue, task.idempotency_key)] = task
    return found


def _enqueue_params(news: Sequence[tuple[str, NewTask]]) -> dict[str, Any]:
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
        }
        for task_id, new in news
    ]
    return {"tasks": payload.dumps(rows), **DEFAULTS}


def _update_and_notify(conn: Conn, query: str, params: dict[str, Any]) -> list[Row]:
    """Run an update; wake listeners of queues it made work due on.

    The notification goes out in its own autocommit statement after the update has
    committed: it is only a hint, and waiters also wake on their timeout.
    """
    rows = conn.execute(query, params).fetchall()
    _notify(conn, (row["queue"] for row in rows if row.get("due")))
    return rows


def _notify(conn: Conn, queues: Iterable[str]) -> None:
    distinct = sorted(set(queues))
    if distinct:
        conn.execute(Q["notify"], {"queues": distinct})


def _leases(leases: Iterable[Lease]) -> dict[str, list[Any]]:
    items = list(leases)
    return {"ids": [str(lease.task_id) for lease in items], "tokens": [x.token for x in items]}


def _id_list(task_ids: Sequence[str] | None) -> list[str] | None:
    return None if task_ids is None else [str(i) for i in task_ids]


def _list_where(filter: TaskFilter, cursor: str | None) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filter.queue is not None:
        clauses.append("queue = %(queue)s")
        params["queue"] = filter.queue
    if filter.name is not None:
        clauses.append("name = %(name)s")
        params["name"] = filter.name
    if filter.status is not None:
        clauses.append(_STATUS_CLAUSE.get(filter.status, "status = %(status)s"))
        params["status"] = str(filter.status)
    if cursor is not None:
        clauses.append("seq < %(cursor)s")
        params["cursor"] = _cursor(cursor)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


_STATUS_CLAUSE = {
    "queued": "status = 'queued' AND run_at <= now()",
    "scheduled": "status = 'queued' AND run_at > now()",
}


def _cursor(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise ConfigurationError(f"cursor {cursor!r} is not one this store handed out") from None
