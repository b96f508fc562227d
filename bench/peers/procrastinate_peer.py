"""procrastinate on PostgreSQL: `procrastinate worker` processes, an async no-op task.

Its slowness here (about 56 tasks/s at 20,000, 300/s at 2,000) is the server's
autovacuum being off, not a worker setting: `procrastinate_fetch_job_v2` takes the next
job by `ORDER BY priority DESC, id LIMIT 1` among the queue's `todo` jobs. Never
analyzed (no autovacuum, so no auto-ANALYZE), the planner reads every job the queue ever
held, finished ones included, through the `queue_name` index and sorts them for each
fetch, so a fetch costs in proportion to the queue's history. Analyzed, it walks the
partial priority index. Probe, one connection, fetch + finish at 20,000 queued: 34-70/s
unanalyzed, 916/s after `ANALYZE`; 316/s when the 22,000 jobs the enqueue measurements
leave in queues `one` and `bulk` come first in that index. The harness with an
`ANALYZE` after each fill: 181 (231)/s. Neither is done here, as that would work
around the server's configuration for one system only. The worker's options do not
touch this: the fetch polling interval applies only when a fetch finds nothing, and
LISTEN/NOTIFY is on (the default).
"""

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
