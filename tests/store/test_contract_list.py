"""Listing: filters by queue, status and name; newest first; keyset pages miss nothing."""

from __future__ import annotations

import pytest

from conveyor.core.task import Status
from conveyor.store import Store
from conveyor.store.base import TaskFilter
from tests.factories import enqueued, in_state, new_task

STATES = [
    Status.QUEUED,
    Status.SCHEDULED,
    Status.RUNNING,
    Status.COMPLETED,
    Status.FAILED,
    Status.CANCELLED,
]


def ids(store: Store, filter: TaskFilter, limit: int = 1000) -> list[str]:
    return [t.id for t in store.list(filter, limit=limit).tasks]


def every_page(store: Store, filter: TaskFilter, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = store.list(filter, limit=limit, cursor=cursor)
        pages.append([t.id for t in page.tasks])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) < 100, "the cursor never ran out"


def test_list_is_newest_first(store: Store) -> None:
    created = [r.id for r in store.enqueue([new_task(name=f"job-{i}") for i in range(6)])]
    created.append(enqueued(store).id)

    assert ids(store, TaskFilter()) == created[::-1]


@pytest.mark.parametrize("status", STATES, ids=str)
def test_list_filters_by_status(store: Store, status: Status) -> None:
    by_status = {s: in_state(store, s, queue=f"q-{s}") for s in STATES}

    assert ids(store, TaskFilter(status=status)) == [by_status[status].id]
    assert store.list(TaskFilter(status=status)).tasks[0].status is status


def test_list_filters_by_queue_and_name(store: Store) -> None:
    a_send = enqueued(store, queue="a", name="send")
    a_sync = enqueued(store, queue="a", name="sync")
    b_send = enqueued(store, queue="b", name="send")

    assert ids(store, TaskFilter(queue="a")) == [a_sync.id, a_send.id]
    assert ids(store, TaskFilter(name="send")) == [b_send.id, a_send.id]
    assert ids(store, TaskFilter(queue="a", name="send")) == [a_send.id]
    assert ids(store, TaskFilter(queue="a", name="send", status=Status.QUEUED)) == [a_send.id]
    assert ids(store, TaskFilter(queue="a", status=Status.RUNNING)) == []
    assert ids(store, TaskFilter(queue="nowhere")) == []


def test_list_finds_tasks_by_idempotency_key_in_every_queue(store: Store) -> None:
    in_a = enqueued(store, queue="a", idempotency_key="order-7")
    in_b = enqueued(store, queue="b", idempotency_key="order-7")
    enqueued(store, queue="a", idempotency_key="order-8")
    enqueued(store, queue="a")

    assert ids(store, TaskFilter(idempotency_key="order-7")) == [in_b.id, in_a.id]
    assert ids(store, TaskFilter(queue="a", idempotency_key="order-7")) == [in_a.id]
    assert ids(store, TaskFilter(idempotency_key="order-9")) == []


def test_keyset_pages_cover_every_task_exactly_once(store: Store) -> None:
    created = [r.id for r in store.enqueue([new_task() for _ in range(23)])]

    pages = every_page(store, TaskFilter(), limit=5)

    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [task_id for page in pages for task_id in page] == created[::-1]


def test_a_full_last_page_has_no_cursor(store: Store) -> None:
    created = [r.id for r in store.enqueue([new_task() for _ in range(10)])]

    pages = every_page(store, TaskFilter(), limit=5)

    assert [task_id for page in pages for task_id in page] == created[::-1]
    assert [len(p) for p in pages] == [5, 5]


def test_filtered_pages_cover_every_match_exactly_once(store: Store) -> None:
    results = store.enqueue([new_task(queue="ab"[i % 2]) for i in range(15)])
    in_a = [r.id for i, r in enumerate(results) if i % 2 == 0]

    pages = every_page(store, TaskFilter(queue="a"), limit=3)

    assert [task_id for page in pages for task_id in page] == in_a[::-1]


def test_tasks_enqueued_while_paging_do_not_shift_the_pages(store: Store) -> None:
    created = [r.id for r in store.enqueue([new_task() for _ in range(9)])]
    first = store.list(TaskFilter(), limit=4)
    store.enqueue([new_task() for _ in range(5)])

    rest = store.list(TaskFilter(), limit=100, cursor=first.next_cursor)

    assert [t.id for t in first.tasks] + [t.id for t in rest.tasks] == created[::-1]
    assert rest.next_cursor is None
