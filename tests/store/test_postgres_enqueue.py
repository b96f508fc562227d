"""PostgreSQL enqueue as one statement: the INSERT notifies, and needs no transaction of
its own when it is the only write (`enqueue.one_statement`)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from conveyor.store import Store
from conveyor.store.base import TaskFilter
from conveyor.store.postgres.enqueue import BATCH_ROWS, one_statement
from tests.factories import new_task

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)


def heard(conn: psycopg.Connection[tuple[object, ...]], seconds: float = 0.5) -> list[str]:
    """The payloads of the notifications that arrive within `seconds`."""
    return [n.payload for n in conn.notifies(timeout=seconds)]


@pytest.fixture
def listening(store_url: str) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(store_url, autocommit=True)
    conn.execute("LISTEN conveyor")
    yield conn  # type: ignore[misc]
    conn.close()


@pytest.mark.parametrize(
    ("tasks", "alone"),
    [
        ([new_task()], True),
        ([new_task(idempotency_key="k")], True),
        ([new_task(), new_task(queue="other")], True),
        ([new_task()] * BATCH_ROWS, True),
        ([new_task()] * (BATCH_ROWS + 1), False),
        ([new_task(), new_task(idempotency_key="k")], False),
        ([new_task(), new_task(parents=[0])], False),
    ],
    ids=["one", "one-keyed", "batch", "one-chunk", "two-chunks", "batch-keyed", "workflow"],
)
def test_one_statement_only_when_the_insert_is_the_only_write(
    backend: str, tasks: list[object], alone: bool
) -> None:
    assert one_statement(tasks) is alone  # type: ignore[arg-type]


def test_an_enqueue_notifies_the_queues_it_made_work_due_on(
    store: Store, listening: psycopg.Connection[tuple[object, ...]]
) -> None:
    store.enqueue([new_task(queue="a")])
    assert heard(listening) == ["a"]

    store.enqueue([new_task(queue="a", delay=300.0)])
    assert heard(listening) == []

    store.enqueue([new_task(queue="b"), new_task(queue="c"), new_task(queue="b")])
    assert sorted(heard(listening)) == ["b", "c"]


def test_a_deduplicated_enqueue_notifies_nobody(
    store: Store, listening: psycopg.Connection[tuple[object, ...]]
) -> None:
    [first] = store.enqueue([new_task(queue="a", idempotency_key="k")])
    assert heard(listening) == ["a"]

    [again] = store.enqueue([new_task(queue="a", idempotency_key="k")])

    assert not again.created
    assert again.task.id == first.task.id
    assert heard(listening) == []


def test_an_enqueue_in_the_callers_transaction_notifies_when_it_commits(
    store: Store, store_url: str, listening: psycopg.Connection[tuple[object, ...]]
) -> None:
    with psycopg.connect(store_url) as conn:
        store.enqueue([new_task(queue="a")], connection=conn)
        time.sleep(0.2)
        assert heard(listening, 0.2) == []
        conn.commit()
    assert heard(listening) == ["a"]


def test_threads_enqueueing_with_and_without_keys_at_once(store: Store) -> None:
    threads = 20
    start = threading.Barrier(threads)

    def enqueue(i: int) -> list[str]:
        start.wait(timeout=10)
        ids = [e.task.id for e in store.enqueue([new_task(args=[i])])]
        ids += [e.task.id for e in store.enqueue([new_task(idempotency_key="same")])]
        ids += [e.task.id for e in store.enqueue([new_task(args=[i]), new_task(args=[i])])]
        keyed = [new_task(idempotency_key=f"pair-{i % 2}"), new_task(args=[i])]
        ids += [e.task.id for e in store.enqueue(keyed)]
        return ids

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(enqueue, range(threads)))

    stored = store.list(TaskFilter(), limit=1000).tasks
    # Per thread: 1 + 2 + 1 without a key; one "same" and two "pair-*" in all.
    assert len(stored) == threads * 4 + 1 + 2
    assert {i for ids in results for i in ids} == {t.id for t in stored}
    assert len({ids[1] for ids in results}) == 1
