"""The WHERE clause of a task listing, shared by both backends.

Listings are keyset-paginated on `seq` (newest first): the cursor is the last `seq` a page
showed, so a page costs an index range scan however deep it is, never an OFFSET.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conveyor.errors import ConfigurationError
from conveyor.store.base import TaskFilter


def list_where(
    filter: TaskFilter, cursor: str | None, param: Callable[[str], str], now: str
) -> tuple[str, dict[str, Any]]:
    """(WHERE clause, parameters) for `filter`; `param` spells a placeholder in the
    backend's style and `now` is its clock expression. `queued` means due now and
    `scheduled` queued for later, as tasks are shown.

    >>> list_where(TaskFilter(queue="q"), "7", lambda n: f":{n}", ":now")
    ('WHERE queue = :queue AND seq < :cursor', {'queue': 'q', 'cursor': 7})
    """
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filter.queue is not None:
        clauses.append(f"queue = {param('queue')}")
        params["queue"] = filter.queue
    if filter.name is not None:
        clauses.append(f"name = {param('name')}")
        params["name"] = filter.name
    if filter.idempotency_key is not None:
        clauses.append(f"idempotency_key = {param('idempotency_key')}")
        params["idempotency_key"] = filter.idempotency_key
    if filter.status == "queued":
        clauses.append(f"status = 'queued' AND run_at <= {now}")
    elif filter.status == "scheduled":
        clauses.append(f"status = 'queued' AND run_at > {now}")
    elif filter.status is not None:
        clauses.append(f"status = {param('status')}")
        params["status"] = str(filter.status)
    if cursor is not None:
        clauses.append(f"seq < {param('cursor')}")
        params["cursor"] = parse_cursor(cursor)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def parse_cursor(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise ConfigurationError(f"cursor {cursor!r} is not one this store handed out") from None
