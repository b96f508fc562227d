"""Conveyor's rows: measured in-process, with bench/throughput.py's stores and enqueues.

Runs in Conveyor's virtualenv (the driver's), never in the peers'.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import throughput as tp
from bench.peers.common import Peer, Result, Settings, data
from bench.peers.common import measure as common_measure

SYSTEMS = {
    "conveyor-sqlite-normal": ("sqlite", "normal"),
    "conveyor-sqlite-full": ("sqlite", "full"),
    "conveyor-postgres": ("postgres", None),
}


@contextlib.contextmanager
def backend(
    store: str, synchronous: str | None, s: Settings
) -> Iterator[tuple[str, Callable[[], tp.Probe]]]:
    if store == "sqlite":
        with tp.sqlite_backend() as (url, probe):
            yield f"{url}?synchronous={synchronous}", probe
    else:
        with tp.postgres_backend(s.postgres_url) as (url, probe):
            yield url, probe


class ConveyorPeer(Peer):
    """Conveyor through the same interface, workers and recorder as every peer.

    Enqueues reuse bench/throughput.py's functions; processing and pickup use the
    harness's own clock (the tasks' recorded start times), not the store's timestamps,
    so that Conveyor is measured exactly as the peers are.
    """

    package = "conveyor-queue"

    def setup(self) -> None:
        from bench.peers.conveyor_app import app, noop

        from conveyor.store import open_store

        self.app, self.noop = app, noop
        self.app.use_store(open_store(self.url, migrate=True))

    def teardown(self) -> None:
        self.app.close()

    def enqueue_one(self, n: int) -> float:
        return tp.enqueue_one(self.noop, n)

    def _settings(self, n: int) -> tp.Settings:
        return tp.Settings(n, n, min(tp.BATCH, n), self.s.concurrency, 0, 0.0)

    def enqueue_bulk(self, n: int) -> float | None:
        return tp.enqueue_bulk(self.app, self.noop, "bulk", self._settings(n))

    def fill(self, n: int, queue: str) -> None:
        tp.enqueue_bulk(self.app, self.noop, queue, self._settings(n))

    def send_one(self, i: int, queue: str) -> None:
        self.noop.options(queue=queue).enqueue(data(i, time.time()))

    def worker_command(self, queue: str) -> list[str]:
        return worker_command(self.url, queue, self.s.concurrency)


def worker_command(url: str, queue: str, concurrency: int, *extra: str) -> list[str]:
    """One `conveyor worker` of the recording app (bench/peers/conveyor_app.py)."""
    return tp.worker_command("bench.peers.conveyor_app:app", url, queue, concurrency, *extra)


def measure(name: str, s: Settings, log: Callable[[str], None]) -> Result:
    store, synchronous = SYSTEMS[name]
    peer = ConveyorPeer(s, Path("."))
    peer.name = name
    peer.store = "postgres" if store == "postgres" else f"sqlite {synchronous}"
    try:
        with (
            backend(store, synchronous, s) as (url, _probe),
            tempfile.TemporaryDirectory(prefix="bench-conveyor-") as folder,
        ):
            peer.url, peer.folder = url, Path(folder)
            result = common_measure(peer, s, log)
    except Exception as exc:
        result = Result(name, peer.store, error=f"{type(exc).__name__}: {exc}")
    result.version = f"conveyor {version()}"
    return result


# -- deep queue: what one claim costs with many tasks queued --------------------------------


def claim_cost(
    name: str, depths: tuple[int, ...], postgres_url: str, claims: int = 200
) -> dict[str, Any]:
    """Median milliseconds of `claim(limit=10)` + `complete` at each queue depth.

    The queue is filled with `enqueue_many` in batches of 1,000 (not timed) up to each
    depth in turn, so the deepest fill is paid once.
    """
    from conveyor import Conveyor
    from conveyor.core.task import Completion
    from conveyor.store import open_store

    store_kind, synchronous = SYSTEMS[name]
    out: dict[str, Any] = {}
    with backend(store_kind, synchronous, Settings(0, 0, 0, postgres_url=postgres_url)) as (
        url,
        _probe,
    ):
        store = open_store(url, migrate=True)
        app = Conveyor()
        app.use_store(store)

        @app.task(name="bench.deep", queue="deep")
        def deep(arg: dict[str, Any]) -> None: ...

        queued = 0
        try:
            for depth in sorted(depths):
                while queued < depth + claims * 10:
                    k = min(1_000, depth + claims * 10 - queued)
                    app.enqueue_many([deep.s(data(queued + i)) for i in range(k)])
                    queued += k
                costs = []
                for _ in range(claims):
                    start = time.perf_counter()
                    got = store.claim(["deep"], 10, "bench", 60.0)
                    store.complete([Completion(c.lease) for c in got])
                    costs.append((time.perf_counter() - start) * 1000)
                    queued -= len(got)
                costs.sort()
                out[str(depth)] = round(costs[len(costs) // 2], 3)
        finally:
            app.close()
    return out


def version() -> str:
    from importlib.metadata import version as installed

    return installed("conveyor-queue")
