"""arq on Redis: `arq` worker, max_jobs 10, in its own virtualenv (arq pins redis<6).

arq's worker polls its queue (a sorted set) every `poll_delay`, 0.5 s by default; that is
kept, so its pickup latency shows arq as configured out of the box.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import RedisSettings
from bench.peers.common import CONCURRENCY, Peer, data, record


async def noop(ctx: dict[str, Any], arg: dict[str, Any]) -> None:
    record(arg)


class WorkerSettings:
    """What `arq bench.peers.arq_peer.WorkerSettings` runs."""

    functions: ClassVar[list[Any]] = [noop]
    redis_settings = RedisSettings.from_dsn(
        os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    queue_name = os.environ.get("BENCH_ARQ_QUEUE", "arq:queue")
    max_jobs = int(os.environ.get("BENCH_CONCURRENCY", CONCURRENCY))
    keep_result = 0


class ArqPeer(Peer):
    name = "arq"
    store = "redis"
    package = "arq"
    redis_db = 10

    def setup(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool = self.loop.run_until_complete(create_pool(RedisSettings.from_dsn(self.url)))

    def teardown(self) -> None:
        self.loop.run_until_complete(self.pool.aclose())
        self.loop.close()

    def _many(self, n: int, queue: str, stamp: bool = False) -> float:
        async def go() -> None:
            for i in range(n):
                arg = data(i, time.time() if stamp else 0.0)
                await self.pool.enqueue_job("noop", arg, _queue_name=queue)

        start = time.perf_counter()
        self.loop.run_until_complete(go())
        return n / (time.perf_counter() - start)

    def enqueue_one(self, n: int) -> float:
        return self._many(n, "one")

    def fill(self, n: int, queue: str) -> None:
        self._many(n, queue)

    def clear(self) -> None:
        self.loop.run_until_complete(self.pool.flushdb())

    def send_one(self, i: int, queue: str) -> None:
        async def go() -> None:
            await self.pool.enqueue_job("noop", data(i, time.time()), _queue_name=queue)

        self.loop.run_until_complete(go())

    def worker_env(self, queue: str) -> dict[str, str]:
        return {
            "BENCH_REDIS_URL": self.url,
            "BENCH_ARQ_QUEUE": queue,
            "BENCH_CONCURRENCY": str(self.s.concurrency),
        }

    def worker_command(self, queue: str) -> list[str]:
        return [str(Path(sys.executable).parent / "arq"), "bench.peers.arq_peer.WorkerSettings"]
