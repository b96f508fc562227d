"""Wake-up: LISTEN/NOTIFY on the channel `conveyor`.

Every write that makes work due now (enqueue, a retry without delay, release, the reaper,
replay, unpausing a queue) sends `pg_notify('conveyor', queue)` (`notify`), and a
`Listener` listens on a dedicated autocommit connection of its own (a pooled connection
would carry its LISTEN into whatever borrows it next).

Any number of threads may wait at once, but only one reads the listening connection at a
time (`_reading`); the others wait on a condition it signals. close() never closes a
listener a thread is reading: freeing a connection under a thread blocked on its socket
is not safe, so it retires it for the reader to close as it lets go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

import psycopg
from psycopg.rows import TupleRow

from conveyor.errors import StoreUnavailable
from conveyor.store.postgres.connections import Executor, oneline
from conveyor.store.postgres.queries import Q

CHANNEL = "conveyor"
READ_SLICE = 0.5
"""Longest single read of the listener: close() waits for a reader to let go of it."""


def notify(conn: Executor, queues: Iterable[str]) -> None:
    distinct = sorted(set(queues))
    if distinct:
        conn.execute(Q["notify"], {"queues": distinct})


class Listener:
    """The store's one LISTEN connection, dialled on first wait, and what it has heard."""

    def __init__(self, conninfo: str, where: str) -> None:
        self._conninfo = conninfo
        self._where = where
        self._conn: psycopg.Connection[TupleRow] | None = None
        self._state = threading.Condition()
        self._heard: set[str] = set()
        self._reading = False
        self._retired: list[psycopg.Connection[TupleRow]] = []

    def wait(self, queues: Sequence[str], timeout: float) -> bool:
        """Wait for a notification naming one of `queues`.

        Any number of threads may wait at once (a worker's loop and the API's announcer
        share a store): one of them reads the listening connection, the others wait on a
        condition it signals. What is heard is remembered per queue until a waiter for
        that queue takes it, or a claim of that queue makes it moot (`answer_heard`).
        """
        wanted = set(queues)
        deadline = time.monotonic() + timeout
        while True:
            with self._state:
                if self._heard & wanted:
                    self._heard -= wanted
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._reading:
                    self._state.wait(remaining)
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
            if self._conn is not conn:
                return False
            self._drop(conn)
            return True
        if self._conn is not conn:
            return False
        with self._state:
            self._heard.update(payloads)
        return None

    def answer_heard(self, queues: Sequence[str]) -> None:
        """Forget notifications for `queues` that came before this claim: it sees their work.

        This also drains the listener while a busy worker never waits. Unread, the
        notifications would fill the socket, block the listening backend and hold back
        the server's notification queue, which makes every NOTIFY fail once it is full.
        """
        with self._state:
            conn = self._conn
            if self._reading or conn is None:
                return
            self._reading = True
        try:
            payloads = self._receive(conn, 0.0)
        except psycopg.OperationalError:
            self._drop(conn)
            payloads = []
        finally:
            self._done_reading()
        with self._state:
            self._heard.update(payloads)
            self._heard -= set(queues)

    @staticmethod
    def _receive(
        conn: psycopg.Connection[TupleRow], timeout: float, stop_after: int | None = None
    ) -> list[str]:
        return [n.payload for n in conn.notifies(timeout=timeout, stop_after=stop_after)]

    def _done_reading(self) -> None:
        """Hand the listener on, and close the ones close() retired while we read them.

        close() never closes a listener a thread is reading: freeing a connection under
        a thread blocked on its socket is not safe.
        """
        with self._state:
            self._reading = False
            retired, self._retired = self._retired, []
            self._state.notify_all()
        for conn in retired:
            conn.close()

    def _listening(self) -> psycopg.Connection[TupleRow]:
        with self._state:
            conn = self._conn
        if conn is not None and not conn.closed:
            return conn
        try:
            fresh = psycopg.Connection.connect(self._conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot listen for work on PostgreSQL at {self._where}: {oneline(exc)}"
            ) from exc
        try:
            fresh.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            fresh.close()
            raise StoreUnavailable(
                f"cannot listen for work on PostgreSQL at {self._where}: {oneline(exc)}"
            ) from exc
        with self._state:
            self._conn = fresh
        return fresh

    def _drop(self, conn: psycopg.Connection[TupleRow]) -> None:
        with self._state:
            if self._conn is conn:
                self._conn = None
        conn.close()

    def close(self) -> None:
        with self._state:
            conn, self._conn = self._conn, None
            if conn is not None and self._reading:
                self._retired.append(conn)
                conn = None
        if conn is not None:
            conn.close()
