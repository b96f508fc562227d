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
import queue
import threading
import traceback
from collections.abc import Callable
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
    """Runs Python handlers: async ones on the loop, sync ones on handler threads.

    Sync handlers go to `_Threads` (threads fed by one queue) and their returns come back
    through `_Returns`, which wakes the loop once for however many handlers returned
    meanwhile: `run_in_executor` and `wait_for` would cost a wake-up, a second future
    and a task per attempt.
    """

    def __init__(self, registry: Registry, worker_id: str, threads: int) -> None:
        self.registry = registry
        self.worker_id = worker_id
        self._size = threads
        self._threads = _Threads(threads)
        self._returns: _Returns | None = None

    async def execute(self, claimed: Claimed) -> Outcome:
        task = claimed.task
        try:
            definition = self.registry.get(task.name)
        except UnknownTaskError as exc:
            return self._failure(claimed, str(exc), "", retry=False)
        if not definition.is_async:
            future = self._start_sync(definition, claimed)
            try:
                await future  # cancelling this attempt cancels the future too
            except asyncio.CancelledError:
                raise
            except BaseException:
                pass  # the outcome says how it failed
            outcome = self.outcome(claimed, future)
            assert outcome is not None
            return outcome
        try:
            result = await asyncio.wait_for(definition.fn(*task.args, **task.kwargs), task.timeout)
            return Completion(claimed.lease, payload.check_result(task.name, result))
        except TimeoutError:
            return self._failure(claimed, f"timed out after {task.timeout} seconds", "")
        except PayloadError as exc:
            return self._failure(claimed, str(exc), "", retry=False)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            return self._failure(claimed, message, traceback.format_exc())

    def start(self, claimed: Claimed) -> asyncio.Future[Any] | None:
        """Start a sync handler with no coroutine around it: the future of what it returns
        (give it to `outcome` when done; cancel it to abandon the attempt). None when the
        handler is async or unknown: run those through `execute`.

        A worker's hot path: a task and a coroutine per attempt cost about as much as
        the rest of the attempt's bookkeeping.
        """
        definition = self.registry.find(claimed.task.name)
        if definition is None or definition.is_async:
            return None
        return self._start_sync(definition, claimed)

    def outcome(self, claimed: Claimed, future: asyncio.Future[Any]) -> Outcome | None:
        """The outcome of a sync attempt whose future is done; None if it was cancelled."""
        if future.cancelled():
            return None
        task = claimed.task
        error = future.exception()
        if error is None:
            try:
                return Completion(claimed.lease, payload.check_result(task.name, future.result()))
            except PayloadError as exc:
                return self._failure(claimed, str(exc), "", retry=False)
        if isinstance(error, TimeoutError):
            return self._failure(claimed, f"timed out after {task.timeout} seconds", "")
        message = f"{type(error).__name__}: {error}"
        return self._failure(claimed, message, "".join(traceback.format_exception(error)))

    def _start_sync(self, definition: TaskDefinition, claimed: Claimed) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        returns = self._returns
        if returns is None or returns.loop is not loop:
            returns = self._returns = _Returns(loop)
        task = claimed.task
        call = functools.partial(
            contextvars.copy_context().run, definition.fn, *task.args, **task.kwargs
        )
        job = _Job(loop.create_future(), call, returns)
        self._threads.submit(job)
        if task.timeout is not None:
            timer = loop.call_later(task.timeout, self._expire, job)
            job.future.add_done_callback(lambda _: timer.cancel())
        return job.future

    def _expire(self, job: _Job) -> None:
        """On the loop: the attempt's time is up. A job no thread took yet never starts
        (its future is done); one that runs keeps its thread, perhaps forever."""
        if job.future.done():
            return
        job.future.set_exception(TimeoutError())
        if job.started:
            # Enough hung handlers would fill the threads and every later sync task would
            # wait for good: later tasks, and those already waiting, get fresh threads.
            old, self._threads = self._threads, _Threads(self._size)
            for waiting in old.stop():
                self._threads.submit(waiting)

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
        # wait for them (they are daemon threads), their attempts have been failed.
        for job in self._threads.stop():
            job.returns.cancel(job.future)


class _Job:
    """One sync attempt on its way to a handler thread."""

    __slots__ = ("call", "future", "returns", "started")

    def __init__(
        self, future: asyncio.Future[Any], call: Callable[[], Any], returns: _Returns
    ) -> None:
        self.future = future
        self.call = call
        self.returns = returns
        self.started = False

    def run(self) -> None:
        """On a handler thread. A future already done was cancelled (lost lease, stop)
        or timed out before this thread took the job: the handler never starts."""
        if self.future.done():
            return
        self.started = True
        self.returns.run(self.future, self.call)


class _Threads:
    """Handler threads fed by one queue, started on first use.

    Daemon threads: a handler that never returns must not keep the process from exiting.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._started = False
        self._stopped = False

    def submit(self, job: _Job) -> None:
        if not self._started:
            self._started = True
            for n in range(self._size):
                name = f"conveyor-task_{n}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
        self._jobs.put(job)

    def _work(self) -> None:
        jobs = self._jobs
        while (job := jobs.get()) is not None:
            job.run()

    def stop(self) -> list[_Job]:
        """Stop the threads once they finish what they run; return the jobs no thread took."""
        waiting: list[_Job] = []
        with contextlib.suppress(queue.Empty):
            while True:
                job = self._jobs.get_nowait()
                if job is not None:
                    waiting.append(job)
        if not self._stopped:
            self._stopped = True
            for _ in range(self._size):
                self._jobs.put(None)
        return waiting


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
