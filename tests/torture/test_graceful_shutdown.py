"""SIGTERM to workers under load: what they run finishes within the grace period or is
released at once, so no task waits for a lease to expire.

Leases are a minute long and the grace period one second; tasks that outlive the grace
period (held behind a gate) are released on every stop and taken by another worker.
Recovery time of a SIGTERM: from the signal until the worker has exited, by which time
each task it held is finished or back in the queue.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from conveyor import Conveyor, Status
from tests.apps.sink import SinkFile
from tests.torture import sizes
from tests.torture.conftest import Record, StartTortureWorker
from tests.torture.processes import TortureWorker
from tests.torture.results import Result
from tests.waiting import wait_until

SIZE = sizes.current()
WORKERS = 3
CONCURRENCY = 8
LEASE = 60.0
GRACE = 1.0
EXIT_SLACK = 4.0
NAP = 0.02
LONG = 4


@pytest.mark.slow
@pytest.mark.timeout(900 if SIZE.name == "full" else 120)
def test_sigterm_under_load_finishes_or_releases_everything(
    app: Conveyor,
    sink: SinkFile,
    start_worker: StartTortureWorker,
    size: sizes.Sizes,
    record: Record,
    backend: str,
) -> None:
    def start() -> TortureWorker:
        return start_worker(concurrency=CONCURRENCY, lease=LEASE, grace=GRACE)

    rng = random.Random(time.time_ns())
    pool = [start() for _ in range(WORKERS)]
    wait_until(lambda: all(w.ready() for w in pool), timeout=60, message="workers up")
    gate = sink.gate()
    long = [app.enqueue("ablock", [f"long{i}", gate], priority="high") for i in range(LONG)]
    total = size.shutdown_tasks
    for first in range(0, total, 1000):
        app.enqueue_many(
            {"name": "nap", "args": [f"s{i}", NAP]} for i in range(first, min(total, first + 1000))
        )

    def completed() -> int:
        counts = {s.queue: s.counts for s in app.stats()}.get("default", {})
        return counts.get("completed", 0)

    exits: list[float] = []
    left_running = 0
    codes = []
    deadline = time.monotonic() + total / 20 + 60
    while len(exits) < size.terms and time.monotonic() < deadline:
        if completed() < (len(exits) + 1) * total / (size.terms + 1):
            time.sleep(0.05)
            continue
        ready = [w for w in pool if w.ready()]
        victim = rng.choice(ready)
        victim.signal(signal.SIGTERM)
        sent = time.monotonic()
        codes.append(victim.wait(GRACE + EXIT_SLACK + 10))
        exits.append(time.monotonic() - sent)
        pool.remove(victim)
        pool.append(start())
        left_running += sum(
            1
            for t in app.list_tasks(status="running", limit=1000).tasks
            if victim.owns(t.worker_id)
        )

    wait_until(lambda: completed() == total, timeout=LEASE / 2, message="the load done")
    sink.open(gate)
    wait_until(
        lambda: all(app.get(h.id).status is Status.COMPLETED for h in long),
        timeout=LEASE / 2,
        message="the long tasks done, well within one lease",
    )
    runs = sink.run_counts()
    nap_duplicates = {k: n for k, n in runs.items() if k.startswith("s") and n > 1}
    record(
        Result(
            scenario="graceful shutdown under load",
            backend=backend,
            load=f"{total:,} tasks + {LONG} long, {WORKERS} workers x {CONCURRENCY} slots",
            faults=f"{len(exits)} SIGTERMs (grace {GRACE:g} s, lease {LEASE:g} s)",
            lost=sum(1 for i in range(total) if f"s{i}" not in runs),
            duplicates=sum(n - 1 for n in runs.values()),
            stuck=left_running,
            recoveries=exits,
        )
    )
    assert len(exits) == size.terms
    assert codes == [0] * len(codes)
    assert max(exits) < GRACE + EXIT_SLACK, f"a stop took {max(exits):.1f}s"
    assert left_running == 0, "a stopped worker left tasks running"
    assert nap_duplicates == {}, "a task that fit in the grace period ran twice"
    for handle in long:
        assert app.get(handle.id).attempts == 1, "a released attempt was counted"
