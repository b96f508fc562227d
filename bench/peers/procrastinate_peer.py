"""procrastinate on PostgreSQL: `procrastinate worker` processes, an async no-op task."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import procrastinate
from bench.peers.common import Peer, data, record


def make_app(url: str) -> procrastinate.App:
    new = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    # Async, so that the worker's `--concurrency` applies (sync tasks run one at a time).
    @new.task(name="bench.noop", queue="bench")
    async def noop(arg: dict[str, Any]) -> None:
        record(arg)

    return new


app = make_app(os.environ.get("BENCH_PG_URL", ""))
"""What `procrastinate --app=bench.peers.procrastinate_peer.app worker` runs."""


class ProcrastinatePeer(Peer):
    name = "procrastinate"
    store = "postgres"
    package = "procrastinate"
    database = True

    def setup(self) -> None:
        self.app = make_app(self.url)
        self.app.open()
        self.app.schema_manager.apply_schema()

    def teardown(self) -> None:
        self.app.close()

    def _task(self, queue: str) -> Any:
        return self.app.configure_task("bench.noop", queue=queue)

    def enqueue_one(self, n: int) -> float:
        deferrer = self._task("one")
        start = time.perf_counter()
        for i in range(n):
            deferrer.defer(arg=data(i))
        return n / (time.perf_counter() - start)

    def _bulk(self, n: int, queue: str) -> float:
        deferrer = self._task(queue)
        elapsed = 0.0
        for first in range(0, n, 1_000):
            batch = [{"arg": data(i)} for i in range(first, min(n, first + 1_000))]
            start = time.perf_counter()
            deferrer.batch_defer(*batch)
            elapsed += time.perf_counter() - start
        return n / elapsed

    def enqueue_bulk(self, n: int) -> float | None:
        return self._bulk(n, "bulk")

    def fill(self, n: int, queue: str) -> None:
        self._bulk(n, queue)

    def send_one(self, i: int, queue: str) -> None:
        self._task(queue).defer(arg=data(i, time.time()))

    def worker_env(self, queue: str) -> dict[str, str]:
        return {"BENCH_PG_URL": self.url}

    def worker_command(self, queue: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "procrastinate",
            "--app=bench.peers.procrastinate_peer.app",
            "worker",
            f"--queues={queue}",
            f"--concurrency={self.s.concurrency}",
        ]
