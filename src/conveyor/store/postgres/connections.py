"""Connections to PostgreSQL: the store URL, the pool, and what a failure is called.

`conninfo` turns a store URL into libpq's conninfo and a "host:port/dbname" that names the
server in messages; the password stays in the conninfo and never reaches a message.

Connections come from a `psycopg_pool.ConnectionPool`, opened on first use, in autocommit
mode: an operation that is one statement is one transaction without the two extra round
trips of BEGIN and COMMIT; operations of several statements (enqueue, migrate) open an
explicit transaction.

Failure: every `psycopg.OperationalError` and pool timeout becomes `StoreUnavailable`,
naming host, port and database (never the password). A pooled connection is checked as
it is handed out, so after PostgreSQL restarts the pool drops dead connections and dials
again by itself. Deadlocks and serialisation failures are retried: they roll back the
whole statement or transaction, so a retry is safe.
"""

from __future__ import annotations

import re
import select
import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from conveyor.errors import ConfigurationError, PayloadError, StoreUnavailable

RETRIES = 3
"""Attempts at a statement or transaction that PostgreSQL rolled back (deadlock)."""
CONNECT_TIMEOUT = 5
RECONNECT_SECONDS = 10.0
"""How long the pool's backoff keeps redialling before it waits for demand again, which
bounds how long the pool stays cold after PostgreSQL comes back."""

Conn = psycopg.Connection[DictRow]
Executor = psycopg.Connection[DictRow] | psycopg.Cursor[DictRow]
"""Where statements run: a pooled connection, or a cursor on a caller's connection."""
T = TypeVar("T")


class Connections:
    """The store's pool, opened on first use, and the one way to run work on it."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 5.0
    ) -> None:
        """`timeout`: seconds to wait for a connection before raising StoreUnavailable."""
        self.conninfo, self.where = conninfo(url)
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Conn] | None = None

    def _get_pool(self) -> ConnectionPool[Conn]:
        with self._lock:
            if self._pool is None:
                pool = ConnectionPool(
                    self.conninfo,
                    connection_class=psycopg.Connection[DictRow],
                    kwargs={"autocommit": True, "row_factory": dict_row},
                    min_size=self._min_size,
                    max_size=self._max_size,
                    open=False,
                    configure=_configure,
                    check=_check,
                    timeout=self._timeout,
                    reconnect_timeout=RECONNECT_SECONDS,
                    name=f"conveyor@{self.where}",
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def run(self, work: Callable[[Conn], T], *, transaction: bool = False) -> T:
        """Run `work` on a pooled connection, turning driver errors into Conveyor's."""
        for attempt in range(1, RETRIES + 1):
            try:
                return self._attempt(work, transaction)
            except psycopg.errors.TransactionRollback as exc:
                if attempt == RETRIES:
                    raise StoreUnavailable(
                        f"PostgreSQL at {self.where} rolled the operation back "
                        f"{RETRIES} times: {oneline(exc)}"
                    ) from exc
            except PoolTimeout as exc:
                raise StoreUnavailable(self._why_no_connection()) from exc
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(
                    f"PostgreSQL at {self.where} failed: {oneline(exc)}"
                ) from exc
            except psycopg.errors.UntranslatableCharacter as exc:
                raise PayloadError(
                    "PostgreSQL cannot store the character \\u0000 in text or JSON "
                    f"(a name, key, argument, result or error): {oneline(exc)}"
                ) from exc
            except psycopg.errors.UndefinedTable as exc:
                raise StoreUnavailable(
                    f"PostgreSQL at {self.where} has no Conveyor schema; run migrate() "
                    f"first ({oneline(exc)})"
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
            with psycopg.Connection.connect(self.conninfo, connect_timeout=2):
                pass
        except psycopg.OperationalError as exc:
            return f"cannot connect to PostgreSQL at {self.where}: {oneline(exc)}"
        return (
            f"no connection to PostgreSQL at {self.where} came free within "
            f"{self._timeout:g} s (all {self._max_size} pooled connections busy)"
        )

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+psycopg\d?)?://", re.IGNORECASE)


def conninfo(url: str) -> tuple[str, str]:
    """(libpq conninfo, "host:port/dbname" for messages) from a store URL."""
    if not _SCHEME.match(url):
        raise ConfigurationError(
            f"PostgreSQL URL must start with postgresql:// (got {url.split('://', 1)[0]!r})"
        )
    libpq_url = _SCHEME.sub("postgresql://", url, count=1)
    try:
        params = conninfo_to_dict(libpq_url)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"PostgreSQL URL is not valid: {oneline(exc)}") from None
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


def oneline(exc: BaseException) -> str:
    return " ".join(str(exc).split())
