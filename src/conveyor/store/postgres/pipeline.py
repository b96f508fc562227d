"""Several statements in one round trip, each its own transaction: libpq's pipeline mode
with a Sync after every statement.

psycopg's own pipeline runs everything up to its single Sync as one implicit
transaction, which would hold a NOTIFY's cluster-wide lock through the enqueue's commit
(see `enqueue.enqueue_and_wake`). Here each statement commits on its own, in order, and
the client waits for the server once instead of once per statement.

The statements are prepared once per connection under their own names, as psycopg
prepares a statement it runs often; psycopg's Python side never sees them. Waiting
happens in `select.poll` with the GIL released, never inside libpq.
"""

from __future__ import annotations

import re
import select
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.errors import error_from_result
from psycopg.pq.abc import PGconn, PGresult

from conveyor.store.postgres.connections import Conn

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_NO_SUCH_STATEMENT = b"26000"
_FAILED = (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.PIPELINE_ABORTED)


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement of `queries.sql` for libpq: `%(name)s` placeholders numbered `$n`."""

    name: bytes
    sql: bytes
    params: tuple[str, ...]
    """The placeholder names, in `$n` order."""

    @classmethod
    def of(cls, name: str, query: str) -> Statement:
        order: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            return f"${order.setdefault(match.group(1), len(order) + 1)}"

        sql = _PLACEHOLDER.sub(number, query)
        return cls(f"conveyor_{name}".encode(), sql.encode(), tuple(order))

    def values(self, params: Mapping[str, Any]) -> list[bytes | None]:
        """The parameters as text, which the server casts to what the statement needs."""
        return [None if params[n] is None else str(params[n]).encode() for n in self.params]


_prepared: weakref.WeakKeyDictionary[Conn, set[bytes]] = weakref.WeakKeyDictionary()


def run(conn: Conn, calls: Sequence[tuple[Statement, Mapping[str, Any]]]) -> list[PGresult]:
    """Run each statement in its own transaction, in order, in one round trip; the result
    of each, failed or not (`check` raises a failure). A statement that fails does not
    stop the later ones: each has its own transaction.

    psycopg deallocates every prepared statement of a connection after a ROLLBACK (and
    after DROP, ALTER or DISCARD ALL), ours included. A statement found missing did
    nothing: it runs again, prepared anew, and so do those after it, to keep the order
    (in this module's pipelines, an INSERT then its NOTIFY, which is safe to repeat).
    """
    known = _prepared.setdefault(conn, set())
    preparing = [statement.name not in known for statement, _ in calls]
    results = _send(conn, calls, preparing)
    fresh = {
        statement.name
        for (statement, _), prepare, parts in zip(calls, preparing, results, strict=True)
        if prepare and parts[0].status == pq.ExecStatus.COMMAND_OK
    }
    known |= fresh
    outcome = [next((r for r in parts if r.status in _FAILED), parts[-1]) for parts in results]
    for i, (result, prepare) in enumerate(zip(outcome, preparing, strict=True)):
        if not prepare and result.error_field(pq.DiagnosticField.SQLSTATE) == _NO_SUCH_STATEMENT:
            known &= fresh  # all that came before this call went together
            return outcome[:i] + run(conn, calls[i:])
    return outcome


def _send(
    conn: Conn, calls: Sequence[tuple[Statement, Mapping[str, Any]]], preparing: Sequence[bool]
) -> list[list[PGresult]]:
    """The results of each statement: its prepare's first, when it is prepared now."""
    pg = conn.pgconn
    try:
        pg.enter_pipeline_mode()
        for (statement, params), prepare in zip(calls, preparing, strict=True):
            if prepare:
                pg.send_prepare(statement.name, statement.sql)
            pg.send_query_prepared(statement.name, statement.values(params))
            pg.pipeline_sync()
        _flush(pg)
        results = [_collect(pg) for _ in calls]
        pg.exit_pipeline_mode()
    except BaseException:
        # Cut off mid-pipeline (a broken connection, an interrupt): what the server
        # still has to say is unknown, so the pool must not hand this connection out.
        conn.close()
        raise
    return results


def check(conn: Conn, result: PGresult) -> PGresult:
    """The result, unless its statement failed: then psycopg's error for it, raised."""
    if result.status in _FAILED:
        raise error_from_result(result, encoding=conn.info.encoding)
    return result


def rows(conn: Conn, result: PGresult) -> list[dict[str, Any]]:
    """A result's rows as dicts, loaded with the connection's own adapters."""
    names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
    loader = Transformer(conn)
    loader.set_pgresult(result)
    return [
        dict(zip(names, row, strict=True)) for row in loader.load_rows(0, result.ntuples, tuple)
    ]


def _collect(pg: PGconn) -> list[PGresult]:
    """The results of one statement (its prepare's first, if any), up to its Sync."""
    parts: list[PGresult] = []
    while True:
        result = _next(pg)
        if result is None:
            continue  # the end of one command's results
        if result.status == _SYNC:
            return parts
        parts.append(result)


def _next(pg: PGconn) -> PGresult | None:
    while True:
        pg.consume_input()
        if not pg.is_busy():
            return pg.get_result()
        _wait(pg, select.POLLIN)


def _flush(pg: PGconn) -> None:
    while pg.flush():
        _wait(pg, select.POLLIN | select.POLLOUT)
        pg.consume_input()


def _wait(pg: PGconn, events: int) -> None:
    poller = select.poll()
    poller.register(pg.socket, events | select.POLLERR | select.POLLHUP)
    poller.poll()  # no timeout, as psycopg's own waits
