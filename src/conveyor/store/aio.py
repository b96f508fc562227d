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
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from conveyor.core.task import NewTask
from conveyor.errors import StoreUnavailable
from conveyor.store.base import Enqueued, Store
from conveyor.store.combine import MOST_TASKS, Request, combinable, interrupted, settle, take

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
        # Per event loop: an AsyncStore may serve loops in several threads, and a loop's
        # events and tasks must only be touched from its own thread.
        self._enqueues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Enqueues] = (
            weakref.WeakKeyDictionary()
        )

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run one store method off the event loop, keeping the caller's contextvars."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._pool, call)

    async def enqueue(self, tasks: Sequence[NewTask]) -> list[Enqueued]:
        """`store.enqueue`, off the loop. Enqueues that come while another is being
        written are written together next, in one call (group commit, `store.combine`):
        the HTTP API's single submits then cost one store call a batch, not one each."""
        if not combinable(tasks):
            return await self.run(self.store.enqueue, tasks)
        loop = asyncio.get_running_loop()
        queued = self._enqueues.get(loop)
        if queued is None:
            queued = self._enqueues[loop] = _Enqueues()
        request = Request(tasks)
        request.written = asyncio.Event()
        queued.requests.append(request)
        if queued.writer is None or queued.writer.done():
            queued.writer = loop.create_task(self._write(queued), name="conveyor-enqueue")
        # A caller that gives up (a client hung up) stops waiting; the write goes on.
        await request.written.wait()
        if not request.settled:
            raise interrupted()
        if request.error is not None:
            raise request.error
        return request.receipts

    async def _write(self, queued: _Enqueues) -> None:
        """Write what queued, a batch at a time, until nothing is left."""
        requests = queued.requests
        try:
            while requests:
                batch = take(requests, MOST_TASKS)
                try:
                    await self.run(settle, self.store.enqueue, batch)
                except Exception as exc:  # no thread took the batch: the store is closing
                    for request in batch:
                        request.error = StoreUnavailable(f"the store is closing: {exc}")
                        request.settled = True
                finally:
                    _wake(batch)
        finally:
            # Cancelled (the loop is shutting down): nobody may be left waiting.
            _wake(requests)
            requests.clear()

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


class _Enqueues:
    """One event loop's enqueues waiting to be written, and the task writing them."""

    __slots__ = ("requests", "writer")

    def __init__(self) -> None:
        self.requests: deque[Request] = deque()
        self.writer: asyncio.Task[None] | None = None


def _wake(requests: Iterable[Request]) -> None:
    for request in requests:
        if request.written is not None:
            request.written.set()
