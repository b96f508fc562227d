"""One attempt as a pipeline: resolve the handler → call it under its timeout →
classify what happened → an outcome for the store.

This is the boundary built for catching everything: whatever a handler raises becomes
the attempt's error with its traceback, and the worker carries on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from conveyor.core import payload
from conveyor.core.retry import retry_delay
from conveyor.core.task import AttemptError, Claimed, Completion, Failure
from conveyor.errors import PayloadError, UnknownTaskError
from conveyor.tasks import Registry, TaskDefinition

Outcome = Completion | Failure


class Executor(Protocol):
    """Runs one claimed attempt and says how it ended; never raises."""

    async def execute(self, claimed: Claimed) -> Outcome: ...


class HandlerExecutor:
    """Runs Python handlers: async ones on the loop, sync ones in a thread pool.

    A sync handler's return travels back to the loop through `_Returns`, which wakes the
    loop once for however many handlers returned meanwhile, where `run_in_executor`
    costs one wake-up (a write to the loop's self-pipe) per handler.
    """

    def __init__(self, registry: Registry, worker_id: str, threads: int) -> None:
        self.registry = registry
        self.worker_id = worker_id
        self._size = threads
        self._threads = self._new_pool()
        self._returns: _Returns | None = None

    async def execute(self, claimed: Claimed) -> Outcome:
        task = claimed.task
        try:
            definition = self.registry.get(task.name)
        except UnknownTaskError as exc:
            return self._failure(claimed, str(exc), "", retry=False)
        try:
            result = await asyncio.wait_for(self._call(definition, claimed), task.timeout)
            return Completion(claimed.lease, payload.check_result(task.name, result))
        except TimeoutError:
            if not definition.is_async:
                self._abandon_thread()
            return self._failure(claimed, f"timed out after {task.timeout} seconds", "")
        except PayloadError as exc:
            return self._failure(claimed, str(exc), "", retry=False)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            return self._failure(claimed, message, traceback.format_exc())

    async def _call(self, definition: TaskDefinition, claimed: Claimed) -> Any:
        args, kwargs = claimed.task.args, claimed.task.kwargs
        if definition.is_async:
            return await definition.fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        returns = self._returns
        if returns is None or returns.loop is not loop:
            returns = self._returns = _Returns(loop)
        call = functools.partial(contextvars.copy_context().run, definition.fn, *args, **kwargs)
        future: asyncio.Future[Any] = loop.create_future()
        job = self._threads.submit(returns.run, future, call)
        # Cancelled (timeout, lost lease, stop) before a thread took it: it never starts;
        # and a job the pool cancels (shutdown) cancels its attempt.
        future.add_done_callback(lambda f: job.cancel() if f.cancelled() else None)
        job.add_done_callback(lambda j: returns.cancel(future) if j.cancelled() else None)
        return await future

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._size, thread_name_prefix="conveyor-task")

    def _abandon_thread(self) -> None:
        # A sync handler past its timeout keeps its thread, perhaps forever. Enough of
        # them would fill the pool and every later sync task would wait in its queue for
        # good, so later tasks get a fresh pool; the old one finishes what it runs.
        old, self._threads = self._threads, self._new_pool()
        old.shutdown(wait=False)

    def _failure(self, claimed: Claimed, message: str, tb: str, retry: bool = True) -> Failure:
        task = claimed.task
        error = AttemptError(
            attempt=task.attempts,
            error=message,
            traceback=tb,
            at=datetime.now(UTC).isoformat(),
            worker_id=self.worker_id,
        )
        delay = retry_delay(task.retry, task.attempts) if retry else None
        return Failure(claimed.lease, error, delay)

    def close(self) -> None:
        # Threads of handlers that overran their timeout cannot be interrupted; do not
        # wait for them, their attempts have already been failed.
        self._threads.shutdown(wait=False, cancel_futures=True)


class _Returns:
    """Hands what sync handlers returned (or raised) back to the loop's futures, with one
    `call_soon_threadsafe` per batch of returns instead of one per handler."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._ready: collections.deque[tuple[asyncio.Future[Any], bool, Any]] = collections.deque()
        self._woken = False

    def run(self, future: asyncio.Future[Any], call: Callable[[], Any]) -> None:
        """In a pool thread: run the handler, then queue its outcome for the loop."""
        entry: tuple[asyncio.Future[Any], bool, Any]
        try:
            entry = (future, True, call())
        except StopIteration as exc:
            # A future refuses StopIteration; raise what run_in_executor's caller would see.
            failure = RuntimeError(f"the handler raised StopIteration: {exc}")
            entry = (future, False, failure.with_traceback(exc.__traceback__))
        except BaseException as exc:
            entry = (future, False, exc)
        self._ready.append(entry)
        if not self._woken:
            self._woken = True
            self._call_soon(self._deliver)

    def cancel(self, future: asyncio.Future[Any]) -> None:
        """From any thread: the job of `future` was cancelled before it started."""
        self._call_soon(future.cancel)

    def _call_soon(self, callback: Callable[[], Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits
            self.loop.call_soon_threadsafe(callback)

    def _deliver(self) -> None:
        """On the loop: settle every future whose handler has returned.

        The flag drops before the queue is emptied, so a handler that returns meanwhile
        either is delivered now or schedules the next delivery itself.
        """
        self._woken = False
        ready = self._ready
        while ready:
            future, ok, value = ready.popleft()
            if future.done():
                continue  # cancelled while its handler ran: the attempt has moved on
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
