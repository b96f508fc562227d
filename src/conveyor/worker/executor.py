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
    meanwhile and settles each `Attempt` there: `run_in_executor` and `wait_for` would
    cost a wake-up, a second future and a task per attempt.
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
            settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def wake(_: Attempt) -> None:
                if not settled.done():
                    settled.set_result(None)

            attempt = self._start_sync(definition, claimed, wake)
            try:
                await settled
            except asyncio.CancelledError:
                attempt.cancel()
                raise
            outcome = self.outcome(claimed, attempt)
            if outcome is None:  # cancelled by close() before a thread took it
                raise asyncio.CancelledError()
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

    def start(self, claimed: Claimed, on_done: Callable[[Attempt], None]) -> Attempt | None:
        """Start a sync handler with no coroutine around it: its `Attempt`, which calls
        `on_done` on the loop once settled (give it to `outcome` then; cancel it to abandon
        the attempt). None when the handler is async or unknown: run those through
        `execute`.

        A worker's hot path: a task and a coroutine per attempt cost about as much as
        the rest of the attempt's bookkeeping.
        """
        definition = self.registry.find(claimed.task.name)
        if definition is None or definition.is_async:
            return None
        return self._start_sync(definition, claimed, on_done)

    def outcome(self, claimed: Claimed, attempt: Attempt) -> Outcome | None:
        """The outcome of a settled sync attempt; None if it was cancelled."""
        if attempt.cancelled():
            return None
        task = claimed.task
        error = attempt.exception()
        if error is None:
            try:
                return Completion(claimed.lease, payload.check_result(task.name, attempt.result()))
            except PayloadError as exc:
                return self._failure(claimed, str(exc), "", retry=False)
        if isinstance(error, TimeoutError):
            return self._failure(claimed, f"timed out after {task.timeout} seconds", "")
        message = f"{type(error).__name__}: {error}"
        return self._failure(claimed, message, "".join(traceback.format_exception(error)))

    def _start_sync(
        self, definition: TaskDefinition, claimed: Claimed, on_done: Callable[[Attempt], None]
    ) -> Attempt:
        loop = asyncio.get_running_loop()
        returns = self._returns
        if returns is None or returns.loop is not loop:
            returns = self._returns = _Returns(loop)
        task = claimed.task
        call = functools.partial(
            contextvars.copy_context().run, definition.fn, *task.args, **task.kwargs
        )
        job = Attempt(claimed, call, returns, on_done)
        self._threads.submit(job)
        if task.timeout is not None:
            job.timer = loop.call_later(task.timeout, self._expire, job)
        return job

    def _expire(self, job: Attempt) -> None:
        """On the loop: the attempt's time is up. A job no thread took yet never starts
        (it is settled); one that runs keeps its thread, perhaps forever."""
        if not job.fail(TimeoutError()):
            return
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
            job.returns.cancel(job)


_PENDING, _RETURNED, _RAISED, _CANCELLED = range(4)


class Attempt:
    """One sync attempt on its way through a handler thread, and how it ended.

    It does for a sync attempt what an asyncio future would, for a fraction of the cost
    on a worker's hot path: it is settled on the loop only (by `_Returns`, a timeout or
    `cancel`), once, and then calls its `on_done` there and then, not on a later turn of
    the loop.
    """

    __slots__ = ("_on_done", "_state", "_value", "call", "claimed", "returns", "started", "timer")

    def __init__(
        self,
        claimed: Claimed,
        call: Callable[[], Any],
        returns: _Returns,
        on_done: Callable[[Attempt], None],
    ) -> None:
        self.claimed = claimed
        self.call = call
        self.returns = returns
        self.started = False
        self.timer: asyncio.TimerHandle | None = None
        self._on_done: Callable[[Attempt], None] | None = on_done
        self._state = _PENDING
        self._value: Any = None

    def run(self) -> None:
        """On a handler thread. An attempt already settled was cancelled (lost lease,
        stop) or timed out before this thread took it: the handler never starts."""
        if self._state != _PENDING:
            return
        self.started = True
        self.returns.run(self)

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self) -> Any:
        """What the handler returned; what it raised, raised. Only once settled."""
        if self._state == _RETURNED:
            return self._value
        raise self._value if self._state == _RAISED else asyncio.CancelledError()

    def exception(self) -> BaseException | None:
        """What the handler raised (or the timeout), None if it returned."""
        if self._state == _CANCELLED:
            raise asyncio.CancelledError()
        return self._value if self._state == _RAISED else None

    def cancel(self) -> bool:
        return self._settle(_CANCELLED, None)

    def succeed(self, value: Any) -> bool:
        return self._settle(_RETURNED, value)

    def fail(self, error: BaseException) -> bool:
        return self._settle(_RAISED, error)

    def _settle(self, state: int, value: Any) -> bool:
        """On the loop: end the attempt, unless it has ended already."""
        if self._state != _PENDING:
            return False
        self._state, self._value = state, value
        if self.timer is not None:
            self.timer.cancel()
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            try:
                on_done(self)
            except Exception as exc:
                # As the loop treats a callback's error: reported, and the attempts
                # settled after this one in the same batch are still settled.
                self.returns.loop.call_exception_handler(
                    {"message": "error in a handler's completion callback", "exception": exc}
                )
        return True


class _Threads:
    """Handler threads fed by one queue, started on first use.

    Daemon threads: a handler that never returns must not keep the process from exiting.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._jobs: queue.SimpleQueue[Attempt | None] = queue.SimpleQueue()
        self._started = False
        self._stopped = False

    def submit(self, job: Attempt) -> None:
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

    def stop(self) -> list[Attempt]:
        """Stop the threads once they finish what they run; return the jobs no thread took."""
        waiting: list[Attempt] = []
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
    """Hands what sync handlers returned (or raised) back to the loop, with one
    `call_soon_threadsafe` per batch of returns instead of one per handler."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._ready: collections.deque[tuple[Attempt, bool, Any]] = collections.deque()
        self._woken = False

    def run(self, attempt: Attempt) -> None:
        """In a pool thread: run the handler, then queue its outcome for the loop."""
        entry: tuple[Attempt, bool, Any]
        try:
            entry = (attempt, True, attempt.call())
        except StopIteration as exc:
            # What run_in_executor's caller would see (a future refuses StopIteration).
            failure = RuntimeError(f"the handler raised StopIteration: {exc}")
            entry = (attempt, False, failure.with_traceback(exc.__traceback__))
        except BaseException as exc:
            entry = (attempt, False, exc)
        self._ready.append(entry)
        if not self._woken:
            self._woken = True
            self._call_soon(self._deliver)

    def cancel(self, attempt: Attempt) -> None:
        """From any thread: `attempt` was cancelled before a thread took it."""
        self._call_soon(attempt.cancel)

    def _call_soon(self, callback: Callable[[], Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits
            self.loop.call_soon_threadsafe(callback)

    def _deliver(self) -> None:
        """On the loop: settle every attempt whose handler has returned (one cancelled or
        timed out while its handler ran stays as it is: the attempt has moved on).

        The flag drops before the queue is emptied, so a handler that returns meanwhile
        either is delivered now or schedules the next delivery itself.
        """
        self._woken = False
        ready = self._ready
        while ready:
            attempt, ok, value = ready.popleft()
            if ok:
                attempt.succeed(value)
            else:
                attempt.fail(value)
