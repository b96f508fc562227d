"""RQ on Redis: `rq worker-pool -n 10` of `SimpleWorker`s (10 worker processes).

RQ's default worker forks a work horse per job; on this 2-core machine that drained
about a quarter as fast as `SimpleWorker` (24 vs 95 tasks/s, 500 tasks, under load),
which would make a 20,000-task run take many minutes and measure fork(), not the queue.
RQ has no threaded mode, so "concurrency 10" is ten worker processes per "process".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from bench.peers.common import Peer, data, record


def noop(arg: dict[str, Any]) -> None:
    record(arg)


class RqPeer(Peer):
    name = "rq"
    store = "redis"
    package = "rq"
    redis_db = 12

    def setup(self) -> None:
        from redis import Redis

        self.redis = Redis.from_url(self.url)

    def teardown(self) -> None:
        self.redis.close()

    def _queue(self, name: str) -> Any:
        from rq import Queue

        return Queue(name, connection=self.redis)

    def enqueue_one(self, n: int) -> float:
        q = self._queue("one")
        start = time.perf_counter()
        for i in range(n):
            q.enqueue(noop, data(i))
        return n / (time.perf_counter() - start)

    def _bulk(self, n: int, queue: str) -> float:
        from rq import Queue

        q = self._queue(queue)
        elapsed = 0.0
        for first in range(0, n, 1_000):
            jobs = [
                Queue.prepare_data(noop, (data(i),)) for i in range(first, min(n, first + 1_000))
            ]
            start = time.perf_counter()
            q.enqueue_many(jobs)
            elapsed += time.perf_counter() - start
        return n / elapsed

    def enqueue_bulk(self, n: int) -> float | None:
        return self._bulk(n, "bulk")

    def fill(self, n: int, queue: str) -> None:
        self._bulk(n, queue)

    def clear(self) -> None:
        self.redis.flushdb()

    def send_one(self, i: int, queue: str) -> None:
        self._queue(queue).enqueue(noop, data(i, time.time()))

    def worker_command(self, queue: str) -> list[str]:
        return [
            str(Path(sys.executable).parent / "rq"),
            "worker-pool",
            "-w",
            "rq.worker.SimpleWorker",
            "-n",
            str(self.s.concurrency),
            "-u",
            self.url,
            "-q",
            queue,
        ]
