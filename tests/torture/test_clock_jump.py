"""A worker's wall clock jumps an hour ahead mid-run (libfaketime): no task runs before
it is due, no retry comes early and no lease is stolen, because the store's clock
decides, not the worker's.

Worker B (faked clock) starts first, so it holds the reaper duty, and serves queue
`later` (delayed and failing tasks); worker A (true clock) holds long tasks on
`default`. If B's clock fed any decision, its reaper would take A's leases and it would
run delayed tasks and retries at once.

PostgreSQL only: there the store's clock is the server's `now()`. A SQLite store has no
clock of its own; it reads the host's, which every process of a one-host deployment
shares, so one process with a different clock is not a state that deployment can be in.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from conveyor import Conveyor, Status
from tests.apps.sink import SinkFile
from tests.torture.app import FLAKY_BACKOFF
from tests.torture.conftest import Record, StartTortureWorker
from tests.torture.results import Result
from tests.waiting import wait_until

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
LEASE = 2.0
HELD = 4
DELAY = 3.0
DELAYED = 10
FLAKY = 4
JITTER = 0.25
EARLY = 0.05
"""Polling resolution: how early an observation may look without being early."""


@pytest.fixture
def faked_clock(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """(file holding the offset, environment that makes a process read it on every call)."""
    if not LIBFAKETIME.exists():
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    yield (
        offset,
        {
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(offset),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # a wall-clock step leaves monotonic time alone
        },
    )


def duty_holder(store_url: str, duty: str) -> str | None:
    with psycopg.connect(store_url) as conn:
        row = conn.execute("SELECT holder FROM conveyor_duties WHERE name = %s", (duty,)).fetchone()
    return None if row is None else str(row[0])


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_worker_clock_jump_neither_runs_early_nor_steals_leases(
    app: Conveyor,
    sink: SinkFile,
    start_worker: StartTortureWorker,
    store_url: str,
    faked_clock: tuple[Path, dict[str, str]],
    record: Record,
    backend: str,
) -> None:
    offset, env = faked_clock
    jumped = start_worker(queues="later", lease=LEASE, reap_interval=0.2, env=env)
    wait_until(jumped.ready, timeout=30, message="the faked worker up")
    wait_until(
        lambda: jumped.owns(duty_holder(store_url, "reaper")),
        timeout=30,
        message="the faked worker holding the reaper duty",
    )
    true = start_worker(queues="default", lease=LEASE, reap_interval=0.2)
    wait_until(true.ready, timeout=30, message="the true worker up")
    gate = sink.gate()
    held = [app.enqueue("ablock", [f"held{i}", gate]) for i in range(HELD)]
    wait_until(lambda: len(sink.run_counts()) == HELD, timeout=30, message="held tasks running")

    offset.write_text("+1h\n")
    jumped_at = time.monotonic()
    delayed = [
        app.enqueue("run", [f"delayed{i}"], queue="later", delay=DELAY) for i in range(DELAYED)
    ]
    flaky = [app.enqueue("flaky", [f"flaky{i}"], queue="later") for i in range(FLAKY)]
    first_seen = watch_runs(sink, until=jumped_at + max(DELAY, FLAKY_BACKOFF) + 2 * LEASE + 1)

    early = [
        key
        for key, seen in first_seen.items()
        if key.startswith("delayed") and seen[0] - jumped_at < DELAY - EARLY
    ]
    early += [
        key
        for key, seen in first_seen.items()
        if key.startswith("flaky")
        and len(seen) > 1
        and seen[1] - seen[0] < FLAKY_BACKOFF * (1 - JITTER) - EARLY
    ]
    stolen = [
        h.id
        for h in held
        if app.get(h.id).worker_id is None or not true.owns(app.get(h.id).worker_id)
    ]
    stolen += [k for k, n in sink.run_counts().items() if k.startswith("held") and n > 1]
    sink.open(gate)

    def finished() -> bool:
        return all(app.get(h.id).status is Status.COMPLETED for h in [*held, *delayed]) and all(
            app.get(h.id).status is Status.FAILED for h in flaky
        )

    with contextlib.suppress(AssertionError):  # judged below, after the figures are kept
        wait_until(finished, timeout=30, interval=0.1, message="everything finished")
    runs = sink.run_counts()
    record(
        Result(
            scenario="worker clock jumps +1 h",
            backend=backend,
            load=f"{HELD} held, {DELAYED} delayed, {FLAKY} retried tasks",
            faults="wall clock +1 h on the reaping worker",
            lost=sum(1 for h in [*held, *delayed] if runs.get(app.get(h.id).args[0], 0) == 0),
            duplicates=sum(n - 1 for k, n in runs.items() if not k.startswith("flaky")),
            stuck=len(stolen),
        )
    )
    assert early == [], f"ran before it was due: {early}"
    assert stolen == [], f"leases taken from the worker holding them: {stolen}"
    assert finished(), "a task did not finish"
    assert jumped.alive() and true.alive()
    # The jump really happened: B stamps the errors it writes with its own clock. (Not
    # every error: one the reaper writes, for an attempt whose lease lapsed while the
    # host stalled past LEASE, carries the store's time.)
    stamps = [datetime.fromisoformat(str(e["at"])) for f in flaky for e in app.get(f.id).errors]
    assert any(at - datetime.now(UTC) > timedelta(minutes=50) for at in stamps), stamps


def watch_runs(sink: SinkFile, until: float) -> dict[str, list[float]]:
    """When each run of each key was first seen in the sink, until `until`."""
    seen: dict[str, list[float]] = {}
    while time.monotonic() < until:
        now = time.monotonic()
        for key, count in sink.run_counts().items():
            times = seen.setdefault(key, [])
            times.extend([now] * (count - len(times)))
        time.sleep(0.01)
    return seen
