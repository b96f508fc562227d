"""Presence: this worker's row in the registry, kept fresh by the heartbeat loop.

Registration happens on the first beat, not before the claim loop starts, so a worker
started while the store is away still starts and shows up once the store is back. A beat
the store refuses (the row was pruned after a long outage) registers again.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence

from conveyor.core.workers import NewWorker
from conveyor.store.aio import AsyncStore

log = logging.getLogger("conveyor.worker")


class Presence:
    def __init__(
        self,
        astore: AsyncStore,
        worker_id: str,
        queues: Sequence[str],
        concurrency: int,
        heartbeat_seconds: float,
    ) -> None:
        self.astore = astore
        self.worker = NewWorker(
            id=worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=tuple(queues),
            concurrency=concurrency,
            heartbeat_seconds=heartbeat_seconds,
        )
        self._registered = False

    async def beat(self, in_flight: int) -> None:
        """Register, or record a heartbeat; store errors propagate to the loop."""
        store = self.astore.store
        if self._registered and await self.astore.run(
            store.heartbeat_worker, self.worker.id, in_flight
        ):
            return
        await self.astore.run(store.register_worker, self.worker)
        self._registered = True
        if in_flight:
            await self.astore.run(store.heartbeat_worker, self.worker.id, in_flight)

    async def leave(self) -> None:
        """Mark this worker stopped; when the store is away it will be shown dead instead."""
        try:
            await self.astore.run(self.astore.store.deregister_worker, self.worker.id)
        except Exception as exc:
            log.error("could not mark worker %s stopped (%s)", self.worker.id, exc)
