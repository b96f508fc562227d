"""Huey on SQLite and on Redis: `huey_consumer` with 10 worker threads.

Huey has one queue per Huey instance (its name), so each measurement gets its own.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.peers.common import Peer, data, record
from huey import RedisHuey, SqliteHuey


def make_huey(kind: str, location: str, name: str) -> Any:
    if kind == "sqlite":
        h: Any = SqliteHuey(name, filename=location)
    else:
        h = RedisHuey(name, url=location)
    h.bench_noop = h.task(name="bench.noop")(record)
    return h


huey = make_huey(
    os.environ.get("BENCH_HUEY_KIND", "redis"),
    os.environ.get("BENCH_HUEY_LOCATION", "redis://127.0.0.1:6379/15"),
    os.environ.get("BENCH_HUEY_QUEUE", "bench"),
)
"""What `huey_consumer bench.peers.huey_peer.huey` runs."""


class _Huey(Peer):
    package = "huey"
    kind = ""

    def location(self) -> str:
        return self.url

    def _task(self, queue: str) -> Any:
        return make_huey(self.kind, self.location(), queue).bench_noop

    def enqueue_one(self, n: int) -> float:
        task = self._task("one")
        start = time.perf_counter()
        for i in range(n):
            task(data(i))
        return n / (time.perf_counter() - start)

    def fill(self, n: int, queue: str) -> None:
        task = self._task(queue)
        for i in range(n):
            task(data(i))

    def send_one(self, i: int, queue: str) -> None:
        self._task(queue)(data(i, time.time()))

    def worker_env(self, queue: str) -> dict[str, str]:
        return {
            "BENCH_HUEY_KIND": self.kind,
            "BENCH_HUEY_LOCATION": self.location(),
            "BENCH_HUEY_QUEUE": queue,
        }

    def worker_command(self, queue: str) -> list[str]:
        return [
            str(Path(sys.executable).parent / "huey_consumer"),
            "bench.peers.huey_peer.huey",
            "-w",
            str(self.s.concurrency),
            "-k",
            "thread",
            *self.poll_options(),
            "-q",
        ]

    def poll_options(self) -> list[str]:
        return []


class HueySqlitePeer(_Huey):
    name = "huey-sqlite"
    # SqliteHuey's default: WAL with synchronous=OFF (fsync=False): weaker than Conveyor's
    # NORMAL, since a power cut can lose committed tasks.
    store = "sqlite off"
    kind = "sqlite"

    def location(self) -> str:
        return str(self.folder / "huey.db")

    def poll_options(self) -> list[str]:
        # SQLite is polled; the default back-off reaches 10 s between polls when idle,
        # which would measure the back-off, not the queue. 10 ms to 100 ms instead.
        return ["-d", "0.01", "-m", "0.1"]


class HueyRedisPeer(_Huey):
    name = "huey-redis"
    store = "redis"
    redis_db = 11
