"""Celery on Redis: `celery worker --pool threads --concurrency 10`, no result backend."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from bench.peers.common import Peer, data, record
from celery import Celery

app = Celery("bench", broker=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"))
app.conf.update(
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop(arg: dict[str, Any]) -> None:
    record(arg)


class CeleryPeer(Peer):
    name = "celery"
    store = "redis"
    package = "celery"
    redis_db = 13

    def setup(self) -> None:
        app.conf.broker_url = self.url

    def teardown(self) -> None:
        app.close()

    def enqueue_one(self, n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            noop.apply_async((data(i),), queue="one")
        return n / (time.perf_counter() - start)

    def fill(self, n: int, queue: str) -> None:
        # One producer connection for the whole fill; Celery has no batch publish.
        with app.producer_or_acquire() as producer:
            for i in range(n):
                noop.apply_async((data(i),), queue=queue, producer=producer)

    def clear(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushdb()

    def send_one(self, i: int, queue: str) -> None:
        noop.apply_async((data(i, time.time()),), queue=queue)

    def worker_env(self, queue: str) -> dict[str, str]:
        return {"BENCH_REDIS_URL": self.url}

    def worker_command(self, queue: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.peers.celery_peer:app",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(self.s.concurrency),
            "-Q",
            queue,
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
