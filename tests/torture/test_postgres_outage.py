"""PostgreSQL restarted mid-run, then stopped for a while: workers and the server say
so, reconnect with backoff, and finish everything; nothing is lost.

Runs on a private cluster (`cluster.py`), never on the shared server. The restart is
`pg_ctl restart -m fast`, as an operator does; the stop is `-m immediate`, as a crash.
Recovery time of a fault: from the moment PostgreSQL accepts connections again to the
first task completed after that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from conveyor import Conveyor
from conveyor.errors import StoreUnavailable
from tests.api.conftest import API
from tests.apps.sink import SinkFile
from tests.torture import sizes
from tests.torture.cluster import Cluster
from tests.torture.conftest import Record, StartTortureWorker
from tests.torture.processes import ServerProcess
from tests.torture.results import Result
from tests.waiting import wait_until

SIZE = sizes.current()
WORKERS = 2
CONCURRENCY = 8
LEASE = 5.0
NAP = 0.01
LONG_NAP = 1.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster().init()
    yield made
    made.destroy()


@pytest.fixture
def store_url(cluster: Cluster) -> str:
    """This module's store is the private cluster, not the shared server."""
    migrated = Conveyor(cluster.url)
    migrated.migrate()
    migrated.close()
    return cluster.url


@pytest.fixture
def server(cluster: Cluster, store_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    started = ServerProcess(cluster.url, tmp_path / "server.log")
    yield started
    started.kill()


def completed(app: Conveyor) -> int | None:
    """Tasks completed so far, or None while the store is away."""
    try:
        counts = {s.queue: s.counts for s in app.stats()}.get("default", {})
    except StoreUnavailable:
        return None
    return counts.get("completed", 0)


def recovery(app: Conveyor, up_at: float) -> float:
    """Seconds from `up_at` to the first task completed after it."""
    baseline = wait_until(lambda: completed(app), timeout=60, message="the store readable")
    wait_until(
        lambda: (completed(app) or 0) > baseline,
        timeout=60,
        interval=0.02,
        message="a task completed after the database came back",
    )
    return time.monotonic() - up_at


def take(numbers: Iterator[int], count: int) -> range:
    """The next `count` task numbers (fewer at the end)."""
    taken = [n for _, n in zip(range(count), numbers, strict=False)]
    return range(taken[0], taken[-1] + 1) if taken else range(0)


def enqueue(app: Conveyor, numbers: range, nap: float, delay: float = 0.0) -> range:
    """Naps p<n> for each n, due after `delay` seconds; return the numbers."""
    for first in range(numbers.start, numbers.stop, 1000):
        last = min(numbers.stop, first + 1000)
        app.enqueue_many(
            {"name": "nap", "args": [f"p{i}", nap], "delay": delay} for i in range(first, last)
        )
    return numbers


def hold_down(seconds: float, check: Callable[[], None]) -> None:
    """Keep the database down for `seconds`, checking what clients see meanwhile."""
    ends = time.monotonic() + seconds
    check()
    while time.monotonic() < ends:
        time.sleep(min(0.5, max(0.0, ends - time.monotonic())))  # the outage's length


@pytest.mark.slow
@pytest.mark.timeout(600 if SIZE.name == "full" else 150)
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_restart_and_outage_of_postgresql_lose_nothing(
    app: Conveyor,
    sink: SinkFile,
    start_worker: StartTortureWorker,
    cluster: Cluster,
    server: ServerProcess,
    size: sizes.Sizes,
    record: Record,
    backend: str,
) -> None:
    workers = [
        start_worker(concurrency=CONCURRENCY, lease=LEASE, reap_interval=0.5)
        for _ in range(WORKERS)
    ]
    server.wait_until_serving()
    wait_until(lambda: all(w.ready() for w in workers), timeout=60, message="workers up")
    total = size.outage_tasks
    # Work is queued just before each fault, so some is left for after it: workers finish
    # a short backlog in the moment it takes to see it done. Before each fault, a slot's
    # worth of long tasks is in flight; the last short ones fall due as the database
    # comes back.
    slots = WORKERS * CONCURRENCY
    third = (total - 2 * slots) // 3
    numbers = iter(range(total))
    recoveries = []

    enqueue(app, take(numbers, third), NAP)
    wait_until(lambda: (completed(app) or 0) >= third, timeout=120, message="a third done")
    long = enqueue(app, take(numbers, slots), LONG_NAP)
    wait_until(lambda: sink.runs(f"p{long.start}"), timeout=60, message="long tasks in flight")
    cluster.restart()
    recoveries.append(recovery(app, time.monotonic()))

    enqueue(app, take(numbers, third), NAP)
    wait_until(lambda: (completed(app) or 0) >= 2 * third, timeout=120, message="2/3 done")
    long = enqueue(app, take(numbers, slots), LONG_NAP)
    enqueue(app, take(numbers, total), NAP, delay=size.outage_seconds)
    wait_until(lambda: sink.runs(f"p{long.start}"), timeout=60, message="long tasks in flight")
    cluster.stop("immediate")
    refused: list[int] = []

    def clients_are_told() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            answer = http.post(f"{API}/tasks", json={"type": "nap", "args": ["late", NAP]})
            refused.append(answer.status_code)
            assert answer.json()["error"]["code"] == "store_unavailable", answer.text

    hold_down(size.outage_seconds, clients_are_told)
    cluster.start()
    up_at = time.monotonic()
    recoveries.append(recovery(app, up_at))

    def accepted() -> bool:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            answer = http.post(f"{API}/tasks", json={"type": "nap", "args": ["after", NAP]})
        return answer.status_code == 202

    wait_until(accepted, timeout=60, interval=0.1, message="the server accepting again")
    done = wait_until(
        lambda: completed(app) == total + 1 and completed(app),
        timeout=120,
        interval=0.2,
        message="every task completed",
    )
    runs = sink.run_counts()
    lost = sum(1 for i in range(total) if f"p{i}" not in runs) + (total + 1 - done)
    record(
        Result(
            scenario="PostgreSQL restarted, then down",
            backend=backend,
            load=f"{total:,} tasks, {WORKERS} workers x {CONCURRENCY} slots + a server",
            faults=f"1 restart, 1 stop of {size.outage_seconds:g} s",
            lost=lost,
            duplicates=sum(n - 1 for n in runs.values()),
            stuck=len(app.list_tasks(status="running").tasks),
            recoveries=recoveries,
        )
    )
    assert lost == 0
    assert refused == [503]
    for worker in workers:
        assert worker.alive(), worker.log()
        assert "store unavailable" in worker.log()
    # At least once: only tasks in flight when the database went away may run again.
    assert sum(n - 1 for n in runs.values()) <= 2 * WORKERS * CONCURRENCY
    assert max(runs.values()) <= 3
