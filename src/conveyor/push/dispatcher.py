"""The dispatcher: a worker whose executor POSTs tasks instead of calling handlers.

It claims tasks of push queues through the same `Store.claim` as every worker, so the
same leases, rate and concurrency limits and groups hold; heartbeats extend leases while
a slow handler takes up to its deadline; SIGTERM stops claiming, lets requests in flight
finish within the grace period and releases the rest.

Which queues are push queues is read from the store every `refresh_seconds`, so a target
configured after start (from Python, the API, the CLI or a queue file) is picked up
without a restart, and a target removed stops being claimed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from conveyor.core.queue import QueueSettings
from conveyor.push.clients import Clients
from conveyor.push.executor import PushExecutor
from conveyor.push.guard import AllowList
from conveyor.scheduler.duties import Duty
from conveyor.store.aio import AsyncStore
from conveyor.store.base import Store
from conveyor.tasks import Registry
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import Worker, new_worker_id

log = logging.getLogger("conveyor.push")

DEFAULT_CONCURRENCY = 100
"""Requests in flight per dispatcher; queue limits still apply on top."""
REFRESH_SECONDS = 5.0


class Dispatcher:
    def __init__(
        self,
        store: Store,
        allow: AllowList,
        config: WorkerConfig | None = None,
        *,
        worker_id: str | None = None,
        duties: Sequence[Duty] = (),
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.config = config or WorkerConfig(concurrency=DEFAULT_CONCURRENCY)
        self.store = store
        self.allow = allow
        self.refresh_seconds = refresh_seconds
        self.worker_id = worker_id or f"push:{new_worker_id()}"
        self.targets: dict[str, QueueSettings] = {}
        self.clients = Clients(self.config.concurrency)
        self.executor = PushExecutor(self.targets, allow, self.worker_id, self.clients)
        self.worker = Worker(
            store,
            Registry(),
            [],
            self.config,
            worker_id=self.worker_id,
            executor=self.executor,
            duties=duties,
        )
        self._astore = AsyncStore(store, threads=1)

    def refresh(self, queues: Sequence[QueueSettings]) -> list[str]:
        """Take the push queues among `queues` as the ones to claim from; their names."""
        current = {q.name: q for q in queues if q.target is not None}
        added = sorted(set(current) - set(self.targets))
        removed = sorted(set(self.targets) - set(current))
        self.targets.clear()
        self.targets.update(current)
        # The worker reads this list before every claim; changing it in place is enough.
        self.worker.queues[:] = sorted(current)
        if added or removed:
            log.info(
                "push queues: %s (added %s, removed %s)",
                ",".join(sorted(current)) or "none",
                ",".join(added) or "none",
                ",".join(removed) or "none",
            )
        return sorted(current)

    async def refresh_once(self) -> list[str]:
        return self.refresh(await self._astore.run(self.store.list_queues))

    def stop(self) -> None:
        self.worker.stop()

    def kill(self) -> None:
        self.worker.kill()

    async def run(self, *, handle_signals: bool = False) -> None:
        await self._refresh_logged()
        watcher = asyncio.create_task(self._watch(), name="conveyor-push-queues")
        try:
            await self.worker.run(handle_signals=handle_signals)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await self.clients.aclose()
            self._astore.close()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            await self._refresh_logged()

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh_once()
        except Exception as exc:
            log.error("store unavailable while reading push queues (%s)", exc)
