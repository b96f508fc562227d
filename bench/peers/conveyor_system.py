"""Conveyor's rows, measured in-process with bench/throughput.py's own functions.

Runs in Conveyor's virtualenv (the driver's), never in the peers'.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench import throughput as tp
from bench.peers.common import Result, Settings, data

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


def measure(name: str, s: Settings) -> Result:
    store, synchronous = SYSTEMS[name]
    label = "postgres" if store == "postgres" else f"sqlite {synchronous}"
    ts = tp.Settings(
        tasks=s.tasks,
        single=s.single,
        batch=min(tp.BATCH, s.tasks),
        concurrency=s.concurrency,
        latency_samples=s.samples,
        latency_interval_ms=tp.LATENCY_INTERVAL * 1000,
    )
    try:
        with backend(store, synchronous, s) as (url, probe):
            got = tp.run_backend(store, url, probe, ts)
    except Exception as exc:
        return Result(name, label, version(), error=f"{type(exc).__name__}: {exc}")
    return Result(
        name,
        label,
        version(),
        enqueue_one_per_s=got.enqueue_one_per_s,
        enqueue_bulk_per_s=got.enqueue_bulk_per_s,
        processed_per_s_1proc=got.processed_per_s_1proc,
        processed_per_s_2procs=got.processed_per_s_2procs,
        pickup_p50_ms=got.pickup_p50_ms,
        pickup_p99_ms=got.pickup_p99_ms,
        error=got.error,
        details=dict(got.details),
    )


# -- deep queue: what one claim costs with many tasks queued --------------------------------


def claim_cost(name: str, depths: tuple[int, ...], claims: int = 200) -> dict[str, Any]:
    """Median milliseconds of `claim(limit=10)` + `complete` at each queue depth.

    The queue is filled with `enqueue_many` in batches of 1,000 (not timed) up to each
    depth in turn, so the deepest fill is paid once.
    """
    from conveyor import Conveyor
    from conveyor.core.task import Completion
    from conveyor.store import open_store

    store_kind, synchronous = SYSTEMS[name]
    out: dict[str, Any] = {}
    with backend(store_kind, synchronous, Settings(0, 0, 0)) as (url, _probe):
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
