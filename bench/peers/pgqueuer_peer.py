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
async def create_pgqueuer() -> AsyncIterator[Any]:
    """The worker's factory, as `pgq run` takes it."""
    import psycopg
    from pgqueuer import PgQueuer, PsycopgDriver

    conn = await psycopg.AsyncConnection.connect(os.environ["PGDSN"], autocommit=True)
    pgq = PgQueuer(PsycopgDriver(conn))
    for name in ENTRYPOINTS[2:]:

        @pgq.entrypoint(name)
        async def handle(job: Any) -> None:
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
    import uvloop
    from pgqueuer import run

    concurrency = int(sys.argv[1])
    # PgQueuer wants max_concurrent_tasks >= 2 x batch_size: 10 in flight, claims of 5.
    uvloop.run(
        run(
            create_pgqueuer,
            batch_size=max(1, concurrency // 2),
            max_concurrent_tasks=concurrency,
        )
    )


if __name__ == "__main__":
    main()
