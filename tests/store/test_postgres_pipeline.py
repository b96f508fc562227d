"""`pipeline.run`: statements in one round trip, each its own transaction, prepared once
per connection. On a real PostgreSQL, against a temporary table of its own."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import DictRow, dict_row

from conveyor.store.postgres import pipeline

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

INSERT = pipeline.Statement.of(
    "test_insert", "INSERT INTO t (v) VALUES (%(v)s) RETURNING v, %(v)s AS again"
)
FAIL = pipeline.Statement.of("test_fail", "SELECT 1 / %(zero)s")


@pytest.fixture
def conn(store_url: str) -> Iterator[psycopg.Connection[DictRow]]:
    with psycopg.connect(store_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("CREATE TEMP TABLE t (v integer NOT NULL)")
        yield conn


def stored(conn: psycopg.Connection[DictRow]) -> list[int]:
    return [row["v"] for row in conn.execute("SELECT v FROM t ORDER BY v")]


def test_placeholders_are_numbered_by_first_use(backend: str) -> None:
    statement = pipeline.Statement.of("x", "SELECT %(b)s, %(a)s, %(b)s")
    assert statement.sql == b"SELECT $1, $2, $1"
    assert statement.params == ("b", "a")
    assert statement.values({"a": None, "b": 1.5}) == [b"1.5", None]


def test_each_statement_commits_on_its_own(conn: psycopg.Connection[DictRow]) -> None:
    inserted, failed = pipeline.run(conn, [(INSERT, {"v": 1}), (FAIL, {"zero": 0})])

    assert pipeline.rows(conn, pipeline.check(conn, inserted)) == [{"v": 1, "again": 1}]
    with pytest.raises(psycopg.errors.DivisionByZero):
        pipeline.check(conn, failed)
    assert stored(conn) == [1]  # the later failure did not undo it


def test_a_failure_does_not_stop_the_statements_after_it(
    conn: psycopg.Connection[DictRow],
) -> None:
    failed, inserted = pipeline.run(conn, [(FAIL, {"zero": 0}), (INSERT, {"v": 2})])

    assert failed.status == psycopg.pq.ExecStatus.FATAL_ERROR
    assert pipeline.check(conn, inserted).ntuples == 1
    assert stored(conn) == [2]
    # The connection is idle again and fit for anything.
    assert conn.execute("SELECT 1 AS one").fetchone() == {"one": 1}


def test_a_statement_deallocated_under_it_runs_again_prepared_anew(
    conn: psycopg.Connection[DictRow],
) -> None:
    pipeline.check(conn, pipeline.run(conn, [(INSERT, {"v": 1})])[0])
    conn.execute("DEALLOCATE ALL")  # what psycopg sends after any ROLLBACK

    inserted, failed = pipeline.run(conn, [(INSERT, {"v": 2}), (FAIL, {"zero": 0})])

    assert pipeline.rows(conn, pipeline.check(conn, inserted)) == [{"v": 2, "again": 2}]
    with pytest.raises(psycopg.errors.DivisionByZero):
        pipeline.check(conn, failed)
    assert stored(conn) == [1, 2]  # once each


def test_a_statement_that_cannot_be_prepared_reports_why(
    conn: psycopg.Connection[DictRow],
) -> None:
    broken = pipeline.Statement.of("test_broken", "SELECT * FROM no_such_table")

    [result] = pipeline.run(conn, [(broken, {})])

    with pytest.raises(psycopg.errors.UndefinedTable):
        pipeline.check(conn, result)


def test_a_broken_connection_is_closed_not_left_mid_pipeline(
    conn: psycopg.Connection[DictRow], store_url: str
) -> None:
    pid = conn.info.backend_pid
    with psycopg.connect(store_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    with pytest.raises(psycopg.OperationalError):
        pipeline.run(conn, [(INSERT, {"v": 1})])
    assert conn.closed
