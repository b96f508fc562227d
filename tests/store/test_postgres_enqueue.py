"""PostgreSQL enqueue as one statement: the INSERT notifies, and needs no transaction of
its own when it is the only write (`enqueue.one_statement`)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import pytest

from conveyor.errors import PayloadError
from conveyor.store import Store
from conveyor.store.base import TaskFilter
from conveyor.store.postgres.enqueue import (
    BATCH_ROWS,
    COPY_ROWS,
    one_statement,
    uses_copy,
    wakes_in_one_trip,
)
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
        ([new_task()] * (COPY_ROWS - 1), True),
        ([new_task()] * COPY_ROWS, False),
        ([new_task(idempotency_key="k")] * BATCH_ROWS, False),
        ([new_task(), new_task(idempotency_key="k")], False),
        ([new_task(), new_task(parents=[0])], False),
    ],
    ids=[
        "one",
        "one-keyed",
        "batch",
        "one-insert",
        "copy",
        "keyed-chunks",
        "batch-keyed",
        "workflow",
    ],
)
def test_one_statement_only_when_the_insert_is_the_only_write(
    backend: str, tasks: list[object], alone: bool
) -> None:
    assert one_statement(tasks) is alone  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tasks", "pipelined"),
    [
        ([new_task()], True),
        ([new_task(), new_task(queue="other")], True),
        ([new_task(idempotency_key="k")], False),
        ([new_task(delay=5.0)], False),
        ([new_task(run_at=datetime.now(UTC))], False),
        ([new_task(), new_task(parents=[0])], False),
        ([new_task()] * COPY_ROWS, False),
    ],
    ids=["one", "batch", "keyed", "delayed", "run-at", "workflow", "copy"],
)
def test_the_wake_up_travels_with_the_insert_only_when_every_task_is_created_due(
    backend: str, tasks: list[object], pipelined: bool
) -> None:
    assert wakes_in_one_trip(tasks) is pipelined  # type: ignore[arg-type]


def test_a_pipelined_enqueue_is_stored_before_its_wake_up_is_heard(
    store: Store, listening: psycopg.Connection[tuple[object, ...]]
) -> None:
    for n in range(3):  # the first prepares the statements; the rest reuse them
        [receipt] = store.enqueue([new_task(queue="a", args=[n])])
        assert heard(listening) == ["a"]
        task = store.get(receipt.id)
        assert task is not None
        assert (task.args, task.status, task.created_at) == (
            [n],
            receipt.status,
            receipt.created_at,
        )


def test_a_nul_character_in_one_task_is_a_payload_error_and_the_store_carries_on(
    store: Store, listening: psycopg.Connection[tuple[object, ...]]
) -> None:
    with pytest.raises(PayloadError, match="u0000"):
        store.enqueue([new_task(name="bad\x00name")])
    assert store.list(TaskFilter(), limit=10).tasks == []

    [receipt] = store.enqueue([new_task(queue="a")])
    assert receipt.created
    assert "a" in heard(listening)


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
    assert again.id == first.id
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
        ids = [e.id for e in store.enqueue([new_task(args=[i])])]
        ids += [e.id for e in store.enqueue([new_task(idempotency_key="same")])]
        ids += [e.id for e in store.enqueue([new_task(args=[i]), new_task(args=[i])])]
        keyed = [new_task(idempotency_key=f"pair-{i % 2}"), new_task(args=[i])]
        ids += [e.id for e in store.enqueue(keyed)]
        return ids

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(enqueue, range(threads)))

    stored = store.list(TaskFilter(), limit=1000).tasks
    # Per thread: 1 + 2 + 1 without a key; one "same" and two "pair-*" in all.
    assert len(stored) == threads * 4 + 1 + 2
    assert {i for ids in results for i in ids} == {t.id for t in stored}
    assert len({ids[1] for ids in results}) == 1


def test_a_bulk_enqueue_without_keys_goes_in_with_copy_and_notifies_once_per_queue(
    store: Store, listening: psycopg.Connection[tuple[object, ...]]
) -> None:
    batch = [new_task(queue="ab"[i % 2], args=[i]) for i in range(COPY_ROWS)]
    batch += [new_task(queue="later", delay=300.0) for _ in range(COPY_ROWS)]
    assert uses_copy(batch)

    receipts = store.enqueue(batch)

    assert sorted(heard(listening)) == ["a", "b"]
    assert all(r.created for r in receipts)
    tasks = [store.get(r.id) for r in receipts]
    assert [t.args for t in tasks[:COPY_ROWS] if t is not None] == [[i] for i in range(COPY_ROWS)]
    assert [r.status.value for r in receipts] == ["queued"] * COPY_ROWS + ["scheduled"] * COPY_ROWS
    assert {r.created_at for r in receipts} == {t.created_at for t in tasks if t is not None}


def test_a_copy_in_the_callers_transaction_exists_only_if_it_commits(
    store: Store, store_url: str
) -> None:
    batch = [new_task(args=[i]) for i in range(COPY_ROWS)]
    with psycopg.connect(store_url) as conn:
        receipts = store.enqueue(batch, connection=conn)
        conn.rollback()
    assert all(store.get(r.id) is None for r in receipts)

    with psycopg.connect(store_url) as conn:
        receipts = store.enqueue(batch, connection=conn)
    assert all(store.get(r.id) is not None for r in receipts)


def test_a_copy_refuses_a_nul_character_as_a_payload_error(store: Store) -> None:
    batch = [new_task(name="bad\x00name")] + [new_task() for _ in range(COPY_ROWS)]

    with pytest.raises(PayloadError, match="u0000"):
        store.enqueue(batch)

    assert store.list(TaskFilter(), limit=10).tasks == []
