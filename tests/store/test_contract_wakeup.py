"""Waking idle workers: when the next task is due, and a wait that new work cuts short."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from conveyor.store import Store, open_store
from tests.factories import claimed, enqueued, later, new_task
from tests.waiting import wait_until


def test_seconds_until_due_is_none_without_queued_tasks(store: Store) -> None:
    claimed(store)

    assert store.seconds_until_due(["default"]) is None


def test_seconds_until_due_is_zero_when_a_task_is_due(store: Store) -> None:
    enqueued(store, delay=300.0)
    enqueued(store)

    assert store.seconds_until_due(["default"], now=later()) == 0.0


def test_seconds_until_due_counts_down_to_the_next_run_at(store: Store) -> None:
    task = enqueued(store, delay=300.0)
    enqueued(store, delay=900.0)
    enqueued(store, queue="other")
    now = later()

    seconds = store.seconds_until_due(["default"], now=now)

    assert seconds == pytest.approx(task.run_at.timestamp() - now, abs=1e-3)
    assert store.seconds_until_due(["nowhere"], now=now) is None


class Waiter:
    """Runs `wait_for_work` on its own thread and records what it returned."""

    def __init__(self, wait: Callable[[], bool]) -> None:
        self.result: bool | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(wait,), daemon=True)
        self._thread.start()

    def _run(self, wait: Callable[[], bool]) -> None:
        self.result = wait()
        self.done.set()

    def join(self) -> None:
        self._thread.join(timeout=30)


@pytest.mark.parametrize("producer", ["another-thread", "another-connection"])
def test_wait_for_work_wakes_soon_after_an_enqueue(
    store: Store, store_url: str, producer: str
) -> None:
    other = open_store(store_url) if producer == "another-connection" else store
    waiter = Waiter(lambda: store.wait_for_work(["default"], timeout=15.0))
    try:
        # The waiter may not be listening yet when the first task lands, so keep enqueueing
        # until it wakes: every enqueue is new work it must notice once it waits.
        wait_until(
            lambda: other.enqueue([new_task()]) and waiter.done.is_set(),
            timeout=10.0,
            interval=0.05,
            message="wait_for_work to wake up after an enqueue",
        )
    finally:
        waiter.join()
        if other is not store:
            other.close()

    assert waiter.result is True


def test_wait_for_work_returns_false_when_nothing_comes(store: Store) -> None:
    started = time.monotonic()

    woken = store.wait_for_work(["default"], timeout=0.3)

    elapsed = time.monotonic() - started
    assert woken is False
    assert 0.2 <= elapsed < 10.0
