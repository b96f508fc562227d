"""SAQ with its PostgreSQL broker: `saq` worker, concurrency 10."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.peers.common import CONCURRENCY, Peer, data, record
from saq import Queue


async def noop(ctx: dict[str, Any], *, arg: dict[str, Any]) -> None:
    record(arg)


def _settings() -> dict[str, Any]:
    url = os.environ.get("BENCH_PG_URL")
    if not url:  # imported by the harness, not by a worker
        return {}
    return {
        "queue": Queue.from_url(url, name=os.environ.get("BENCH_SAQ_QUEUE", "bench")),
        "functions": [noop],
        "concurrency": int(os.environ.get("BENCH_CONCURRENCY", CONCURRENCY)),
    }


settings = _settings()
"""What `saq bench.peers.saq_peer.settings` runs."""


class SaqPeer(Peer):
    name = "saq"
    store = "postgres"
    package = "saq"
    database = True

    def setup(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.queues: dict[str, Any] = {}

    def _queue(self, name: str) -> Any:
        if name not in self.queues:
            q = Queue.from_url(self.url, name=name)
            self.loop.run_until_complete(q.connect())
            self.queues[name] = q
        return self.queues[name]

    def teardown(self) -> None:
        for q in self.queues.values():
            self.loop.run_until_complete(q.disconnect())
        self.loop.close()

    def _many(self, n: int, queue: str) -> float:
        q = self._queue(queue)

        async def go() -> None:
            for i in range(n):
                await q.enqueue("noop", arg=data(i))

        start = time.perf_counter()
        self.loop.run_until_complete(go())
        return n / (time.perf_counter() - start)

    def enqueue_one(self, n: int) -> float:
        return self._many(n, "one")

    def fill(self, n: int, queue: str) -> None:
        self._many(n, queue)

    def send_one(self, i: int, queue: str) -> None:
        q = self._queue(queue)
        self.loop.run_until_complete(q.enqueue("noop", arg=data(i, time.time())))

    def worker_env(self, queue: str) -> dict[str, str]:
        return {
            "BENCH_PG_URL": self.url,
            "BENCH_SAQ_QUEUE": queue,
            "BENCH_CONCURRENCY": str(self.s.concurrency),
        }

    def worker_command(self, queue: str) -> list[str]:
        return [str(Path(sys.executable).parent / "saq"), "bench.peers.saq_peer.settings"]
