"""AsyncStore: the asyncio runtime's door to the synchronous store.

The store has one colour (sync) so the contract suite tests one code path; async callers
run its methods in a small dedicated thread pool. Blocking waits (`wait_for_work`) get
their own thread so a long poll never holds up a claim or an acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from conveyor.store.base import Store

P = ParamSpec("P")
R = TypeVar("R")

WAIT_SLICE_SECONDS = 0.05
"""A long poll runs in slices this long, so an abandoned one frees its thread soon."""


class AsyncStore:
    def __init__(self, store: Store, threads: int = 4) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="conveyor-store")
        self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conveyor-wait")
        self._closing = threading.Event()

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run one store method off the event loop, keeping the caller's contextvars."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._pool, call)

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        abandoned = threading.Event()
        try:
            return await loop.run_in_executor(
                self._waiter, self._wait_in_slices, list(queues), timeout, abandoned
            )
        finally:
            # Cancelled (the worker stopped waiting): free the one waiter thread soon, or
            # the next wait would queue behind this one for the rest of its timeout.
            abandoned.set()

    def _wait_in_slices(
        self, queues: list[str], timeout: float, abandoned: threading.Event
    ) -> bool:
        deadline = time.monotonic() + timeout
        while not (abandoned.is_set() or self._closing.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.store.wait_for_work(queues, min(left, WAIT_SLICE_SECONDS)):
                return True
        return False

    def close(self) -> None:
        # Wait for a poll still in flight too: the owner closes the store next, and closing
        # a SQLite connection while another thread runs a statement on it crashes the
        # process. Polls run in short slices, so this wait is short.
        self._closing.set()
        self._pool.shutdown(wait=True)
        self._waiter.shutdown(wait=True, cancel_futures=True)
