"""PgQueuer on PostgreSQL: `pgq run` workers, psycopg driver (asyncpg is not installed)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from bench.peers.common import Peer, data, record

ENTRYPOINTS = ("one", "bulk", "p1", "p2", "lat")


@contextlib.asynccontextmanager
async def create_pgqueuer(concurrency: int) -> AsyncIterator[Any]:
    """The worker's factory, as `pgq run` takes it; at most `concurrency` handlers run at once."""
    import psycopg
    from pgqueuer import PgQueuer, PsycopgDriver

    conn = await psycopg.AsyncConnection.connect(os.environ["PGDSN"], autocommit=True)
    pgq = PgQueuer(PsycopgDriver(conn))
    # PgQueuer starts every job it picks at once, so its only per-process limit
    # (max_concurrent_tasks) caps picked jobs; this semaphore keeps running handlers at
    # `concurrency` while it picks up to twice that (see main()).
    slots = asyncio.Semaphore(concurrency)
    for name in ENTRYPOINTS[2:]:

        @pgq.entrypoint(name)
        async def handle(job: Any) -> None:
            async with slots:
                record(json.loads(job.payload))

    try:
        yield pgq
    finally:
        await conn.close()


class PgQueuerPeer(Peer):
    name = "pgqueuer"
    store = "postgres"
    package = "pgqueuer"
    database = True

    def setup(self) -> None:
        import psycopg
        from pgqueuer import PsycopgDriver, Queries

        self.loop = asyncio.new_event_loop()

        async def connect() -> Any:
            return await psycopg.AsyncConnection.connect(self.url, autocommit=True)

        self.conn = self.loop.run_until_complete(connect())
        self.q = Queries(PsycopgDriver(self.conn))
        self.loop.run_until_complete(self.q.install())

    def teardown(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()

    def _run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def enqueue_one(self, n: int) -> float:
        async def go() -> None:
            for i in range(n):
                await self.q.enqueue("one", json.dumps(data(i)).encode())

        start = time.perf_counter()
        self._run(go())
        return n / (time.perf_counter() - start)

    def _bulk(self, n: int, queue: str) -> float:
        elapsed = 0.0
        for first in range(0, n, 1_000):
            k = min(1_000, n - first)
            payloads: list[bytes | None] = [json.dumps(data(first + i)).encode() for i in range(k)]
            start = time.perf_counter()
            self._run(self.q.enqueue([queue] * k, payloads, [0] * k))
            elapsed += time.perf_counter() - start
        return n / elapsed

    def enqueue_bulk(self, n: int) -> float | None:
        return self._bulk(n, "bulk")

    def fill(self, n: int, queue: str) -> None:
        self._bulk(n, queue)

    def send_one(self, i: int, queue: str) -> None:
        self._run(self.q.enqueue(queue, json.dumps(data(i, time.time())).encode()))

    def worker_env(self, queue: str) -> dict[str, str]:
        return {"PGDSN": self.url}

    def worker_command(self, queue: str) -> list[str]:
        # `pgq run` 1.6.0 fails at start-up here (its --log-level parser hands a str to
        # the logging set-up), so the worker calls what `pgq run` calls.
        return [sys.executable, "-m", "bench.peers.pgqueuer_peer", str(self.s.concurrency)]


def main() -> None:
    import functools

    import uvloop
    from pgqueuer import run

    concurrency = int(sys.argv[1])
    # Concurrency 10 = at most 10 handlers running at once per process. PgQueuer's
    # processing rate is set by jobs per round trip (one dequeue UPDATE and one log
    # flush, each a commit, per batch; the status-log buffer flushes every batch_size
    # jobs), and it requires max_concurrent_tasks >= 2 x batch_size. Measured here,
    # 20,000 no-op tasks, 1 process (2), one run each on a loaded 2-core machine:
    #   batch_size=5,  max_concurrent_tasks=10             920 (2,014)/s  (the most
    #       PgQueuer alone allows at 10 running: it runs every picked job at once)
    #   batch_size=10, max_concurrent_tasks=20, 10 slots 2,241 (3,181)/s  <- this;
    #       2,158 (3,239)/s in a second run, pickup p50/p99 6.2/57.3 ms
    #   batch_size=25, max_concurrent_tasks=50, 10 slots 3,961 (7,121)/s
    # Chosen: PgQueuer's default batch_size (10), the smallest cap it accepts for it
    # (20), handlers limited to 10 by the semaphore in create_pgqueuer: 10 running and
    # at most 2 x 10 held, as Conveyor holds at most 2 x concurrency leases without its
    # claim-ahead. Larger batches would hand PgQueuer a claim-ahead it does not have.
    # Nothing else is a per-process throughput option in 1.6: dequeue_timeout applies
    # only when no job is queued (a full cap waits for the NOTIFY of its own log flush,
    # 0.1 s at most, fixed inside QueueManager), heartbeats start after 15 s, there is
    # no serialized_dispatch or prefetch option, and an entrypoint's concurrency_limit
    # counts across all workers. Durability stays `durable` (logged tables), as
    # Conveyor's store is; PgQueuer's docs quote ~1.7x for asyncpg over psycopg.
    uvloop.run(
        run(
            functools.partial(create_pgqueuer, concurrency),
            batch_size=concurrency,
            max_concurrent_tasks=2 * concurrency,
        )
    )


if __name__ == "__main__":
    main()
