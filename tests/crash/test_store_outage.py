"""The store goes away and comes back: workers wait, retry, and lose nothing.

PostgreSQL is taken away through a TCP proxy (`proxy.Outage`) or by terminating the
worker's sessions, never by stopping the server other tests share. A SQLite file cannot
go down; the nearest thing is another process holding its write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from conveyor import Conveyor, Status
from tests.apps.sink import SinkFile
from tests.crash.conftest import StartWorker, WorkerProcess
from tests.crash.proxy import Outage
from tests.waiting import wait_until

UNAVAILABLE = "store unavailable"


class ProxyOutage:
    """PostgreSQL behind a proxy: down refuses and cuts connections."""

    def __init__(self, store_url: str) -> None:
        self._proxy = Outage(store_url)
        self.url = self._proxy.url
        self.address = f"127.0.0.1:{self._proxy.port}"
        self._errors_before = 0

    def down(self) -> None:
        self._proxy.down()

    def up(self) -> None:
        self._proxy.up()

    def mark(self, worker: WorkerProcess) -> None:
        self._errors_before = worker.log().count(UNAVAILABLE)

    def noticed_by(self, worker: WorkerProcess) -> bool:
        return worker.log().count(UNAVAILABLE) > self._errors_before

    def close(self) -> None:
        self._proxy.close()


class LockOutage:
    """A SQLite file whose write lock another process holds."""

    def __init__(self, store_url: str) -> None:
        self.url = store_url
        self.path = Path(store_url.removeprefix("sqlite:///")).resolve()
        self._conn = sqlite3.connect(self.path, isolation_level=None)

    def down(self) -> None:
        self._conn.execute("BEGIN EXCLUSIVE")

    def up(self) -> None:
        self._conn.execute("ROLLBACK")

    def mark(self, worker: WorkerProcess) -> None:
        pass

    def noticed_by(self, worker: WorkerProcess) -> bool:
        # The worker has opened the file, so it is now blocked on the lock.
        fds = Path(f"/proc/{worker.pid}/fd")
        return any(_points_to(link, self.path) for link in fds.iterdir())

    def close(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._conn.close()


def _points_to(link: Path, target: Path) -> bool:
    try:
        return link.resolve() == target
    except OSError:
        return False


@pytest.fixture
def outage(backend: str, store_url: str) -> Iterator[ProxyOutage | LockOutage]:
    made: ProxyOutage | LockOutage
    made = ProxyOutage(store_url) if backend == "postgres" else LockOutage(store_url)
    yield made
    made.close()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_database_down_at_start_and_mid_run(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker, outage: ProxyOutage | LockOutage
) -> None:
    # Down at start: the worker waits for the store instead of exiting.
    first = [app.enqueue("run", [f"a{i}"]) for i in range(20)]
    outage.down()
    worker = start_worker(url=outage.url, concurrency=4, lease=10.0, reap_interval=0.5)
    wait_until(lambda: outage.noticed_by(worker), timeout=30, message="the worker to hit it")
    assert worker.alive(), worker.log()
    if isinstance(outage, ProxyOutage):
        assert f"cannot connect to PostgreSQL at {outage.address}" in worker.log()
    assert sink.lines() == []
    outage.up()
    for handle in first:
        assert handle.wait(timeout=30)["key"].startswith("a")

    # Down mid-run, with attempts in flight whose outcomes cannot be written.
    second = app.enqueue_many({"name": "nap", "args": [f"b{i}", 0.05]} for i in range(200))
    wait_until(lambda: len(sink.run_counts()) >= 40, timeout=30, message="the run under way")
    outage.mark(worker)
    outage.down()
    wait_until(lambda: outage.noticed_by(worker), timeout=30, message="the worker to hit it")
    wait_until(
        lambda: all(sink.done(k) for k in sink.run_counts() if k.startswith("b")),
        timeout=30,
        message="the attempts in flight to finish, their outcomes unwritten",
    )
    outage.up()

    wait_until(
        lambda: all(app.get(h.id).status is Status.COMPLETED for h in second),
        timeout=60,
        interval=0.2,
        message="every task completed after the outage",
    )
    assert worker.alive(), worker.log()
    runs = sink.run_counts()
    assert {f"b{i}" for i in range(200)} <= set(runs), "a task was lost"
    # At least once: an outcome that could not be written before the lease ran out is run
    # again, but never more than that.
    assert max(runs.values()) <= 2


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_worker_reconnects_after_its_sessions_are_terminated(
    app: Conveyor, sink: SinkFile, start_worker: StartWorker, store_url: str
) -> None:
    worker = start_worker(concurrency=4, lease=10.0, reap_interval=0.5)
    handles = app.enqueue_many({"name": "nap", "args": [f"k{i}", 0.05]} for i in range(200))
    wait_until(lambda: len(sink.run_counts()) >= 40, timeout=30, message="the run under way")

    app.close()  # the test's own sessions stay out of it; the app reopens on next use
    terminated = terminate_sessions(store_url)
    assert terminated > 0

    wait_until(
        lambda: all(app.get(h.id).status is Status.COMPLETED for h in handles),
        timeout=45,
        interval=0.2,
        message="every task completed after the sessions were cut",
    )
    assert worker.alive(), worker.log()
    runs = sink.run_counts()
    assert set(runs) == {f"k{i}" for i in range(200)}, "a task was lost"
    assert max(runs.values()) <= 2


def terminate_sessions(store_url: str) -> int:
    """pg_terminate_backend every other session of this test's database."""
    with psycopg.connect(store_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)
