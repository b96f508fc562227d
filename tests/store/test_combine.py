"""Group commit (`store.combine.Combiner`): who writes what, and who hears which outcome.

The threads' tests drive the combiner with a write of their own that can be held open,
so the order of arrivals is certain; `test_contract_enqueue.py` runs concurrent threads
through both real stores. The coroutines' tests run on both real stores: coroutines
started together all queue before the first write begins, so that order is certain too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from conveyor.core.task import NewTask, Status
from conveyor.errors import PayloadError, StoreUnavailable
from conveyor.store import Store
from conveyor.store.aio import AsyncStore
from conveyor.store.base import Enqueued, TaskFilter
from conveyor.store.combine import Combiner, combinable
from tests.factories import new_task
from tests.waiting import wait_until


class Interrupted(BaseException):
    """What a writer thread might meet mid-write (KeyboardInterrupt, SystemExit)."""


class Writes:
    """The combiner's write: records each batch, answers a receipt per task (its name as
    the id), and can be held open or made to fail by the test."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.fail: Callable[[list[str]], BaseException | None] = lambda names: None

    def __call__(self, tasks: Sequence[NewTask]) -> list[Enqueued]:
        names = [t.name for t in tasks]
        self.batches.append(names)
        assert self.hold.wait(10), "the test never released the write"
        error = self.fail(names)
        if error is not None:
            raise error
        now = datetime.now(UTC)
        return [Enqueued(name, True, Status.QUEUED, now) for name in names]


def tasks(*names: str) -> list[NewTask]:
    return [NewTask(name) for name in names]


class Producers:
    """Threads enqueueing through one combiner; what each got back, or raised."""

    def __init__(self, combiner: Combiner) -> None:
        self.combiner = combiner
        self.outcomes: dict[str, Any] = {}
        self._threads: list[threading.Thread] = []

    def start(self, label: str, batch: list[NewTask]) -> None:
        def run() -> None:
            try:
                self.outcomes[label] = [r.id for r in self.combiner.enqueue(batch)]
            except BaseException as exc:
                self.outcomes[label] = exc

        thread = threading.Thread(target=run, name=f"producer-{label}")
        self._threads.append(thread)
        thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join(10)
            assert not thread.is_alive(), f"{thread.name} never returned"


def queued(combiner: Combiner, n: int) -> None:
    wait_until(lambda: len(combiner._queued) == n, message=f"{n} enqueues queued")


@contextmanager
def held(writes: Writes) -> Iterator[None]:
    writes.hold.clear()
    try:
        yield
    finally:
        writes.hold.set()


def behind_a_write(
    writes: Writes, *requests: tuple[str, list[NewTask]], most: int = 1000
) -> tuple[Combiner, Producers]:
    """A write of "first" held open, and `requests` queued behind it in this order; the
    write is let go once they all wait. Join the producers for the outcomes."""
    combiner = Combiner(writes, most=most)
    producers = Producers(combiner)
    with held(writes):
        producers.start("first", tasks("f"))
        wait_until(lambda: writes.batches, message="the first write")
        for n, (label, batch) in enumerate(requests, start=1):
            producers.start(label, batch)
            queued(combiner, n)
    return combiner, producers


def test_a_lone_producer_writes_each_enqueue_at_once() -> None:
    writes = Writes()
    combiner = Combiner(writes)
    assert [r.id for r in combiner.enqueue(tasks("a", "b"))] == ["a", "b"]
    assert [r.id for r in combiner.enqueue(tasks("c"))] == ["c"]
    assert writes.batches == [["a", "b"], ["c"]]


def test_enqueues_that_arrive_during_a_write_share_the_next_one() -> None:
    writes = Writes()
    _, producers = behind_a_write(writes, *((f"p{n}", tasks(f"p{n}a", f"p{n}b")) for n in range(4)))
    producers.join()
    assert writes.batches[0] == ["f"]
    assert len(writes.batches) == 2, writes.batches
    assert writes.batches[1] == [f"p{n}{s}" for n in range(4) for s in "ab"]
    # Each producer hears the receipts of its own tasks, in its order.
    assert producers.outcomes == {
        "first": ["f"],
        **{f"p{n}": [f"p{n}a", f"p{n}b"] for n in range(4)},
    }


def test_a_combined_write_takes_at_most_its_limit_and_a_larger_request_goes_alone() -> None:
    writes = Writes()
    _, producers = behind_a_write(
        writes,
        ("two", tasks("t1", "t2")),
        ("big", tasks("b1", "b2", "b3", "b4")),
        ("one", tasks("o1")),
        most=3,
    )
    producers.join()
    assert writes.batches == [["f"], ["t1", "t2"], ["b1", "b2", "b3", "b4"], ["o1"]]
    assert producers.outcomes["big"] == ["b1", "b2", "b3", "b4"]


def test_a_bad_task_fails_only_its_own_request() -> None:
    writes = Writes()
    writes.fail = lambda names: ValueError("refused: bad") if "bad" in names else None
    _, producers = behind_a_write(
        writes, ("good1", tasks("g1")), ("bad", tasks("bad")), ("good2", tasks("g2"))
    )
    producers.join()
    # The combined write failed, then each request was written alone.
    assert writes.batches == [["f"], ["g1", "bad", "g2"], ["g1"], ["bad"], ["g2"]]
    assert producers.outcomes["good1"] == ["g1"]
    assert producers.outcomes["good2"] == ["g2"]
    assert isinstance(producers.outcomes["bad"], ValueError)


def test_an_unavailable_store_fails_every_request_of_the_write_without_retrying() -> None:
    writes = Writes()
    writes.fail = lambda names: StoreUnavailable("down") if len(names) > 1 else None
    _, producers = behind_a_write(writes, ("a", tasks("a")), ("b", tasks("b")))
    producers.join()
    assert len(writes.batches) == 2
    errors = [producers.outcomes["a"], producers.outcomes["b"]]
    assert all(isinstance(e, StoreUnavailable) and str(e) == "down" for e in errors)
    assert errors[0] is not errors[1], "two threads must not raise one exception object"


def test_an_interrupted_writer_fails_its_batch_and_the_next_request_still_writes() -> None:
    writes = Writes()
    writes.fail = lambda names: Interrupted() if "a" in names else None
    combiner, producers = behind_a_write(writes, ("a", tasks("a")), ("b", tasks("b")))
    # "a" writes [a, b] and is interrupted; "c", queued meanwhile, still gets written.
    wait_until(lambda: "b" in producers.outcomes, message="b's outcome")
    producers.start("c", tasks("c"))
    producers.join()
    assert isinstance(producers.outcomes["a"], Interrupted)
    assert isinstance(producers.outcomes["b"], StoreUnavailable)
    assert "may or may not be stored" in str(producers.outcomes["b"])
    assert producers.outcomes["c"] == ["c"]
    assert combiner._writing is False and not combiner._queued


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        (tasks("a", "b"), True),
        ([NewTask("a", idempotency_key="k")], False),
        ([NewTask("a"), NewTask("b", parents=(0,))], False),
    ],
)
def test_only_batches_without_keys_or_edges_are_combined(
    batch: list[NewTask], expected: bool
) -> None:
    assert combinable(batch) is expected


# -- coroutines on one event loop (AsyncStore.enqueue), through the real stores ----------


class CountingStore:
    """The real store, noting how many tasks each of its enqueue calls carried."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[int] = []

    def enqueue(self, tasks: Sequence[NewTask], *, connection: Any = None) -> list[Enqueued]:
        self.calls.append(len(tasks))
        return self.store.enqueue(tasks, connection=connection)


@contextmanager
def async_store(store: Store) -> Iterator[tuple[AsyncStore, CountingStore]]:
    counting = CountingStore(store)
    astore = AsyncStore(cast(Store, counting))
    try:
        yield astore, counting
    finally:
        astore.close()


def test_coroutines_enqueueing_at_once_share_one_store_call(store: Store) -> None:
    async def main(astore: AsyncStore) -> list[list[Enqueued]]:
        return await asyncio.gather(*(astore.enqueue([new_task(name=f"t{i}")]) for i in range(20)))

    with async_store(store) as (astore, counting):
        receipts = asyncio.run(main(astore))
    assert counting.calls == [20]
    for i, [receipt] in enumerate(receipts):
        task = store.get(receipt.id)
        assert task is not None and task.name == f"t{i}"


def test_a_coroutine_with_a_bad_task_fails_alone(store: Store) -> None:
    async def main(astore: AsyncStore) -> list[list[Enqueued] | BaseException]:
        late = new_task(name="late", kwargs={"when": datetime.now(UTC)})
        batches = [[new_task(name="a")], [late], [new_task(name="b")]]
        return await asyncio.gather(*(astore.enqueue(b) for b in batches), return_exceptions=True)

    with async_store(store) as (astore, counting):
        good_a, bad, good_b = asyncio.run(main(astore))
    assert isinstance(bad, PayloadError) and "'late'" in str(bad)
    assert not isinstance(good_a, BaseException) and not isinstance(good_b, BaseException)
    names = {t.name for t in store.list(TaskFilter(), limit=10).tasks}
    assert names == {"a", "b"}
    assert counting.calls == [3, 1, 1, 1], "the shared call failed, then one call each"


def test_a_caller_that_gives_up_does_not_stop_the_write(store: Store) -> None:
    async def main(astore: AsyncStore) -> None:
        given_up = asyncio.create_task(astore.enqueue([new_task(name="given-up")]))
        await asyncio.sleep(0)  # let it queue its request
        given_up.cancel()
        await astore.enqueue([new_task(name="after")])
        with pytest.raises(asyncio.CancelledError):
            await given_up

    with async_store(store) as (astore, _):
        asyncio.run(main(astore))
    assert {t.name for t in store.list(TaskFilter(), limit=10).tasks} == {"given-up", "after"}


def test_an_enqueue_after_close_says_the_store_is_closing(store: Store) -> None:
    with async_store(store) as (astore, _):
        astore.close()
        with pytest.raises(StoreUnavailable, match="the store is closing"):
            asyncio.run(astore.enqueue([new_task(name="late")]))
    assert store.list(TaskFilter(), limit=10).tasks == []


def test_event_loops_in_two_threads_share_one_async_store(store: Store) -> None:
    """Each loop combines its own coroutines: a loop's events are never set from
    another loop's thread, and no enqueue waits on a writer of another loop."""
    results: dict[int, list[list[Enqueued]]] = {}

    async def produce(astore: AsyncStore, n: int) -> None:
        batches = [[new_task(name=f"l{n}-{i}")] for i in range(30)]
        results[n] = await asyncio.gather(*(astore.enqueue(b) for b in batches))

    with async_store(store) as (astore, _):
        threads = [
            threading.Thread(target=asyncio.run, args=(produce(astore, n),)) for n in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
            assert not thread.is_alive(), "an enqueue never returned"
    for n in range(2):
        stored = [store.get(receipts[0].id) for receipts in results[n]]
        assert [t.name if t else None for t in stored] == [f"l{n}-{i}" for i in range(30)]
