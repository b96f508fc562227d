"""In-process workers: `Worker.run()` on an event loop of its own thread, over a real store.

The test's thread stays synchronous: it enqueues through the app, waits on store state
with `wait_until`, and stops the worker the way a signal would, through `stop()` called
on the worker's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from conveyor import Conveyor
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import Worker
from tests.apps.fixtures import app, sink  # noqa: F401 - fixtures used by this folder
from tests.apps.sink import SinkFile

LOOP_THREAD = "worker-loop"
STOP_TIMEOUT = 10.0


class RunningWorker:
    """A worker running on its own thread; `stop()` drains it like SIGTERM would."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name=LOOP_THREAD, daemon=True)
        self._thread.start()
        if not self._started.wait(STOP_TIMEOUT):
            raise AssertionError("the worker's event loop did not start")

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.error = exc

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started.set()
        await self.worker.run()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the worker to stop (drain within its grace period) and wait until it has."""
        if self._thread.is_alive() and self._loop is not None:
            self._loop.call_soon_threadsafe(self.worker.stop)
        self.join(timeout)

    def kill(self) -> None:
        if self._thread.is_alive() and self._loop is not None:
            self._loop.call_soon_threadsafe(self.worker.kill)
        self.join(STOP_TIMEOUT)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the worker did not stop within {timeout}s")
        if self.error is not None:
            raise AssertionError(f"the worker crashed: {self.error!r}") from self.error


StartWorker = Callable[..., RunningWorker]


@pytest.fixture
def start_worker(app: Conveyor, sink: SinkFile) -> Iterator[StartWorker]:
    """Start in-process workers on the app's store; each is stopped at teardown."""
    started: list[RunningWorker] = []

    def start(queues: Sequence[str] = ("default",), **config: Any) -> RunningWorker:
        settings = {"concurrency": 4, "lease_seconds": 5.0, "reap_interval": 0.2, **config}
        worker = Worker(app.store, app.registry, queues, WorkerConfig(**settings))
        running = RunningWorker(worker)
        started.append(running)
        return running

    yield start
    sink.open_all()
    for running in started:
        running.kill()
