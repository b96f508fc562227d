"""Retention under load: a sustained run leaves the tasks table bounded, not growing."""

from __future__ import annotations

import time

from conveyor import Conveyor
from tests.apps import sink as tasks
from tests.crash.conftest import StartWorker
from tests.waiting import wait_until

SECONDS = 6.0
CHUNK = 40
PACE = 0.1
"""About 400 tasks a second: below what one worker process completes on either store, so
the table holds what retention keeps plus a short backlog, never the whole run."""


def rows(app: Conveyor) -> int:
    return sum(sum(s.counts.values()) for s in app.stats())


def test_a_sustained_run_keeps_the_table_bounded_by_retention(
    app: Conveyor, start_worker: StartWorker
) -> None:
    app.queue("churn", completed_retention=1.0)
    noop = app.task(tasks.noop).options(queue="churn")
    worker = start_worker(queues="churn", concurrency=10, prune_interval=0.5)
    wait_until(worker.ready, timeout=20, message="the worker to start")

    enqueued, peak, samples = 0, 0, []
    stop_at = time.monotonic() + SECONDS
    while time.monotonic() < stop_at:
        app.enqueue_many([noop.s() for _ in range(CHUNK)])
        enqueued += CHUNK
        size = rows(app)
        samples.append(size)
        peak = max(peak, size)
        time.sleep(PACE)  # pacing the load, not waiting for a result

    # Bound: what 1 s of retention, two prune rounds and a second of backlog can hold.
    rate = enqueued / SECONDS
    bound = rate * (1.0 + 2 * 0.5 + 1.0)
    assert enqueued >= 1500
    assert peak <= bound, f"peak {peak} rows > bound {bound:.0f}; samples {samples[::10]}"
    # The second half of the run is no bigger than the first: the table is not growing.
    half = len(samples) // 2
    assert max(samples[half:]) <= max(samples[:half]) * 1.5 + CHUNK, samples[::10]
    # And once the load stops, everything finished is pruned.
    wait_until(lambda: rows(app) == 0, timeout=15, message="the table to empty")
