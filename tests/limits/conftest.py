"""Real `conveyor worker` processes running `tests.limits.app`, shared by a module.

Starting a worker costs seconds of imports, so each test module that needs workers gets
one pool per backend: a store of its own (a SQLite file, a PostgreSQL database cloned
from the migrated template) and four worker processes serving every queue the tests use,
killed when the module is done, whatever happened. Tests keep apart by queue name and by
sink file (`Sink`, one per test, named in every task's arguments).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor import Conveyor
from conveyor.store import open_store
from tests import databases
from tests.conftest import BACKENDS
from tests.limits.app import build
from tests.limits.sink import Sink

ROOT = Path(__file__).resolve().parents[2]
CONVEYOR = str(Path(sys.executable).with_name("conveyor"))
APP = "tests.limits.app:app"
QUEUES = ["rated", "capped", "keyed", "grouped", "retrying", "held", "live"]
WORKERS = 4
RATE_WORKERS = 3
"""Only this many of the pool's workers serve the rate-limited queue `rated`."""
CONCURRENCY = 10


class WorkerProcess:
    """One `conveyor worker` subprocess, its output kept in a file for failure messages."""

    def __init__(self, url: str, queues: list[str], log: Path) -> None:
        self.log_path = log
        command = [
            CONVEYOR,
            "worker",
            APP,
            "--url",
            url,
            "--queues",
            ",".join(queues),
            "--concurrency",
            str(CONCURRENCY),
            "--reap-interval",
            "0.5",
        ]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, "CONVEYOR_URL": url},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Pool:
    url: str
    workers: list[WorkerProcess]

    def check_alive(self) -> None:
        dead = [w for w in self.workers if not w.alive()]
        if dead:
            raise AssertionError(f"a worker exited early\n{self.logs(dead)}")

    def logs(self, workers: list[WorkerProcess] | None = None) -> str:
        return "\n".join(
            f"--- worker {w.process.pid}:\n{w.log()[-3000:]}" for w in workers or self.workers
        )


@pytest.fixture(scope="module", params=BACKENDS)
def pool_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh, migrated store for this module on one backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('limits')}/conveyor.db"
        open_store(url).close()  # creates and migrates the file
        yield url
        return
    admin, template = request.getfixturevalue("postgres")
    name = databases.unique_name()
    url = databases.create_database(admin, name, template=template)
    yield url
    databases.drop_database(admin, name)


@pytest.fixture(scope="module")
def pool(pool_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    folder = tmp_path_factory.mktemp("workers")
    others = [q for q in QUEUES if q != "rated"]
    workers: list[WorkerProcess] = []
    try:
        for n in range(WORKERS):
            queues = QUEUES if n < RATE_WORKERS else others
            workers.append(WorkerProcess(pool_url, queues, folder / f"worker-{n}.log"))
        yield Pool(pool_url, workers)
    finally:
        for worker in workers:
            worker.kill()


@pytest.fixture
def app(pool: Pool) -> Iterator[Conveyor]:
    built = build(pool.url)
    yield built
    built.close()


@pytest.fixture
def sink(tmp_path: Path) -> Sink:
    return Sink(tmp_path / "executions.jsonl")
