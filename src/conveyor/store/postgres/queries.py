"""The statements of `queries.sql` by name, and the task rows they return.

Statements returning task rows add `db_now`, the clock the statement ran at (see the head
of `queries.sql`): `task_of` shows a row against that clock, so whether a queued task is
due or scheduled is the database's call, never a worker host's.
"""

from __future__ import annotations

from typing import Any

from conveyor.core.task import Task
from conveyor.store.rows import task_from_row
from conveyor.store.sqlfile import load_queries

Q = load_queries("conveyor.store.postgres")

Row = dict[str, Any]


def task_of(row: Row) -> Task:
    """A task row, shown against the clock its statement ran at (`db_now`)."""
    return task_from_row(row, row.pop("db_now"))
