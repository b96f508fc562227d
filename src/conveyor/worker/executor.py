"""One attempt as a pipeline: resolve the handler → call it under its timeout →
classify what happened → an outcome for the store.

This is the boundary built for catching everything: whatever a handler raises becomes
the attempt's error with its traceback, and the worker carries on.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import traceback
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
    """Runs Python handlers: async ones on the loop, sync ones in a thread pool."""

    def __init__(self, registry: Registry, worker_id: str, threads: int) -> None:
        self.registry = registry
        self.worker_id = worker_id
        self._size = threads
        self._threads = self._new_pool()

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
        call = functools.partial(contextvars.copy_context().run, definition.fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

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
