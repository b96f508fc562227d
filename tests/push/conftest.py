"""Push fixtures: a receiver on loopback, an app allowed to reach it, and a dispatcher
running in a thread of its own over the same store."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence

import pytest

from conveyor import Conveyor
from conveyor.push.dispatcher import Dispatcher
from conveyor.push.guard import AllowList
from conveyor.scheduler.duties import Duty
from conveyor.worker.config import WorkerConfig
from tests.push.receiver import Receiver, Respond

LOOPBACK = "http://127.0.0.1:*"
STOP_TIMEOUT = 30.0


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    conveyor = Conveyor(store_url, push_allow=LOOPBACK)
    yield conveyor
    conveyor.close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(respond: Respond | None = None) -> Receiver:
        one = Receiver(respond).start()
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


class RunningDispatcher:
    """A Dispatcher on its own event loop in a thread, until `stop()`."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self.dispatcher.run())
        except BaseException as exc:
            self.error = exc
        finally:
            self.loop.close()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.dispatcher.stop)
        self.thread.join(STOP_TIMEOUT)
        assert not self.thread.is_alive(), "the dispatcher did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def dispatch(store_url: str) -> Iterator[Callable[..., RunningDispatcher]]:
    """Start dispatchers over their own store: `dispatch(allow=..., concurrency=...)`."""
    running: list[tuple[RunningDispatcher, Conveyor]] = []

    def start(
        allow: str = LOOPBACK,
        concurrency: int = 20,
        refresh_seconds: float = 0.2,
        lease_seconds: float = 5.0,
        duties: Sequence[Duty] = (),
    ) -> RunningDispatcher:
        own = Conveyor(store_url)
        config = WorkerConfig(
            concurrency=concurrency, lease_seconds=lease_seconds, grace_seconds=5.0
        )
        dispatcher = Dispatcher(
            own.store,
            AllowList.parse(allow),
            config,
            refresh_seconds=refresh_seconds,
            duties=duties,
        )
        one = RunningDispatcher(dispatcher)
        running.append((one, own))
        return one

    yield start
    for one, own in running:
        try:
            one.stop()
        finally:
            own.close()
