"""Dramatiq on Redis: `dramatiq` with one process and 10 threads per worker process."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import dramatiq
from bench.peers.common import Peer, data, record
from dramatiq.brokers.redis import RedisBroker

QUEUES = ("one", "p1", "p2", "lat")

broker = RedisBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"))
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="bench.noop", queue_name="bench", max_retries=0)
def noop(arg: dict[str, Any]) -> None:
    record(arg)


# The worker consumes only queues its broker declared; a message's queue is its actor's
# unless copied to another, which is how one actor serves every measurement here.
for _queue in QUEUES:
    broker.declare_queue(_queue)


class DramatiqPeer(Peer):
    name = "dramatiq"
    store = "redis"
    package = "dramatiq"
    redis_db = 14

    def setup(self) -> None:
        self.broker = RedisBroker(url=self.url)
        dramatiq.set_broker(self.broker)
        for queue in QUEUES:
            self.broker.declare_queue(queue)

    def teardown(self) -> None:
        self.broker.close()

    def _send(self, arg: dict[str, Any], queue: str) -> None:
        self.broker.enqueue(noop.message(arg).copy(queue_name=queue))

    def enqueue_one(self, n: int) -> float:
        start = time.perf_counter()
        for i in range(n):
            self._send(data(i), "one")
        return n / (time.perf_counter() - start)

    def fill(self, n: int, queue: str) -> None:
        for i in range(n):
            self._send(data(i), queue)

    def clear(self) -> None:
        self.broker.flush_all()

    def send_one(self, i: int, queue: str) -> None:
        self._send(data(i, time.time()), queue)

    def worker_env(self, queue: str) -> dict[str, str]:
        return {"BENCH_REDIS_URL": self.url}

    def worker_command(self, queue: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "dramatiq",
            "bench.peers.dramatiq_peer",
            "--processes",
            "1",
            "--threads",
            str(self.s.concurrency),
            "--queues",
            queue,
        ]
