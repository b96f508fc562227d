"""Real `conveyor worker` processes over a real store; every one is killed at teardown.

A test starts workers with `start_worker(...)`, drives them with signals, and judges them
only by store state and by the sink, which survives a SIGKILL because each line is
fsynced before the handler goes on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pluggy
import pytest

from tests.apps.fixtures import app, sink  # noqa: F401 - fixtures used by this folder
from tests.apps.sink import SinkFile

ROOT = Path(__file__).resolve().parents[2]
CONVEYOR = str(Path(sys.executable).with_name("conveyor"))
APP = "tests.apps.sink:app"


class WorkerProcess:
    """One `conveyor worker` subprocess, its log kept in a file for failure messages."""

    def __init__(self, url: str, sink: SinkFile, log: Path, options: list[str]) -> None:
        self.log_path = log
        env = {**os.environ, "CONVEYOR_URL": url, "CONVEYOR_SINK": str(sink.path)}
        command = [CONVEYOR, "worker", APP, "--url", url, "--log-level", "debug", *options]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def owns(self, worker_id: str | None) -> bool:
        """Whether a task's `worker_id` names this process (host:pid:suffix)."""
        return worker_id is not None and worker_id.split(":")[1] == str(self.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.pid} did not exit within {timeout}s; log:\n{self.log()}"
            ) from None

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait(10)

    def ready(self) -> bool:
        """Whether the worker has reached its claim loop (it says so in its log)."""
        return " started: queues=" in self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


StartWorker = Callable[..., WorkerProcess]
WORKERS = pytest.StashKey[list[WorkerProcess]]()
LOG_TAIL = 20_000


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    """A failed test shows the logs of the workers it started."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for worker in item.stash.get(WORKERS, []):
        state = "running" if worker.alive() else f"exit {worker.process.returncode}"
        report.sections.append((f"worker {worker.pid} log ({state})", worker.log()[-LOG_TAIL:]))


@pytest.fixture
def start_worker(
    store_url: str, sink: SinkFile, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StartWorker]:
    """Start `conveyor worker` subprocesses on this test's store; all die at teardown."""
    started: list[WorkerProcess] = []
    request.node.stash[WORKERS] = started

    def start(
        *,
        url: str | None = None,
        concurrency: int = 4,
        lease: float = 5.0,
        grace: float = 5.0,
        reap_interval: float = 0.5,
        prune_interval: float = 60.0,
        queues: str = "default",
        loop: str = "auto",
    ) -> WorkerProcess:
        options = [
            f"--prune-interval={prune_interval}",
            f"--concurrency={concurrency}",
            f"--lease={lease}",
            f"--grace={grace}",
            f"--reap-interval={reap_interval}",
            f"--queues={queues}",
            f"--loop={loop}",
        ]
        log = tmp_path / f"worker-{len(started)}.log"
        worker = WorkerProcess(url or store_url, sink, log, options)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
    sink.open_all()
