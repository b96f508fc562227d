"""AsyncStore: the asyncio runtime's door to the synchronous store.

The store has one colour (sync) so the contract suite tests one code path; async callers
run its methods in a small dedicated thread pool. Blocking waits (`wait_for_work`) get
their own thread so a long poll never holds up a claim or an acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from conveyor.store.base import Store

P = ParamSpec("P")
R = TypeVar("R")


class AsyncStore:
    def __init__(self, store: Store, threads: int = 4) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="conveyor-store")
        self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="conveyor-wait")

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run one store method off the event loop, keeping the caller's contextvars."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._pool, call)

    async def wait_for_work(self, queues: Sequence[str], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._waiter, self.store.wait_for_work, list(queues), timeout
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._waiter.shutdown(wait=False, cancel_futures=True)
