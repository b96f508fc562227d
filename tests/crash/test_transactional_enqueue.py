"""Enqueue inside the application's own transaction: the task shares its fate.

The signup pattern from the README: insert a user and enqueue its welcome email on the
same connection; commit and a real worker runs the task, roll back and it never existed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from conveyor import ConfigurationError, Conveyor, Status
from conveyor.store.sqlite.store import parse_sqlite_url
from tests.apps import sink as tasks
from tests.apps.sink import SinkFile
from tests.crash.conftest import StartWorker
from tests.waiting import wait_until


@pytest.fixture
def connection(store_url: str, backend: str) -> Iterator[Any]:
    """The application's own connection to the store's database, with a users table."""
    if backend == "sqlite":
        path, _ = parse_sqlite_url(store_url)
        conn: Any = sqlite3.connect(path)
        conn.execute("CREATE TABLE IF NOT EXISTS users (email TEXT PRIMARY KEY)")
        conn.commit()
    else:
        conn = psycopg.connect(store_url)
        conn.execute("CREATE TEMP TABLE users (email text PRIMARY KEY)")
        conn.commit()
    yield conn
    conn.close()


def placeholder(conn: Any) -> str:
    return "?" if isinstance(conn, sqlite3.Connection) else "%s"


def sign_up(app: Conveyor, conn: Any, email: str) -> str:
    conn.execute(f"INSERT INTO users (email) VALUES ({placeholder(conn)})", (email,))
    run = app.task(tasks.run)
    return run.options(connection=conn).enqueue(f"welcome:{email}").id


def test_committed_signup_enqueues_a_task_that_runs(
    app: Conveyor, connection: Any, start_worker: StartWorker, sink: SinkFile
) -> None:
    task_id = sign_up(app, connection, "ada@example.com")
    assert app.store.get(task_id) is None, "visible before the transaction committed"

    connection.commit()

    start_worker()
    wait_until(lambda: app.get(task_id).status is Status.COMPLETED, timeout=20)
    assert sink.runs("welcome:ada@example.com")


def test_rolled_back_signup_leaves_no_task(app: Conveyor, connection: Any) -> None:
    task_id = sign_up(app, connection, "bob@example.com")

    connection.rollback()

    assert app.store.get(task_id) is None
    assert app.stats() == []


def test_a_workflow_can_be_enqueued_in_the_callers_transaction(
    app: Conveyor, connection: Any
) -> None:
    from conveyor import chain

    add = app.task(tasks.add)
    handle = chain(add.s(1, 2), add.s(3)).enqueue(connection=connection)
    connection.rollback()

    assert [app.store.get(t.id) for t in handle.tasks] == [None, None]


def test_an_autocommit_connection_outside_a_transaction_is_refused(
    app: Conveyor, store_url: str, backend: str
) -> None:
    run = app.task(tasks.run)
    if backend == "sqlite":
        path, _ = parse_sqlite_url(store_url)
        conn: Any = sqlite3.connect(path, isolation_level=None)
    else:
        conn = psycopg.connect(store_url, autocommit=True)
    with conn, pytest.raises(ConfigurationError, match="autocommit"):
        run.options(connection=conn).enqueue("lonely")
    assert app.stats() == []


def test_a_connection_of_the_other_kind_is_refused_by_name(app: Conveyor, backend: str) -> None:
    run = app.task(tasks.run)
    with pytest.raises(ConfigurationError, match="connection= must be"):
        run.options(connection=object()).enqueue("x")
