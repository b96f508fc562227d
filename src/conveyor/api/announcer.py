"""Wakes long-polling lease requests when new work may be there.

One background loop waits on the store (LISTEN/NOTIFY on PostgreSQL, `data_version` on
SQLite) for the queues that have waiters, so a thousand idle HTTP workers cost one
listener, not a thousand polling loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter

from conveyor.app import Conveyor

log = logging.getLogger("conveyor.api")
LISTEN_SECONDS = 0.5


class Announcer:
    def __init__(self, app: Conveyor) -> None:
        self.app = app
        self._waiting: Counter[str] = Counter()
        self._generation = asyncio.Event()
        self._someone_waits = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="conveyor-announcer")

    def close(self) -> None:
        """Answer every waiting lease request now: the server is shutting down."""
        self.closed = True
        self._generation.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self, queue: str, timeout: float) -> None:
        """Return when work may have arrived in `queue`, or after `timeout` seconds."""
        self._waiting[queue] += 1
        self._someone_waits.set()
        generation = self._generation
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(generation.wait(), timeout)
        finally:
            self._waiting[queue] -= 1
            if self._waiting[queue] <= 0:
                del self._waiting[queue]

    async def _loop(self) -> None:
        while True:
            if not self._waiting:
                self._someone_waits.clear()
                await self._someone_waits.wait()
            try:
                woke = await self.app.astore.wait_for_work(list(self._waiting), LISTEN_SECONDS)
            except Exception as exc:
                log.error("cannot listen for new work (%s); retrying", exc)
                await asyncio.sleep(1.0)
                woke = True
            if woke:
                self._generation.set()
                self._generation = asyncio.Event()
