"""Fixtures of the torture suite: sizes, the results file, and worker processes.

Workers are real `conveyor worker` subprocesses running `tests.torture.app`; each test
judges them by store state and by the fsynced sink of executions (tests/apps/sink.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor import Conveyor
from tests.apps.fixtures import sink  # noqa: F401 - a fixture used by this folder
from tests.apps.sink import SinkFile
from tests.crash.conftest import WORKERS, pytest_runtest_makereport  # noqa: F401
from tests.torture import results, sizes
from tests.torture.app import build
from tests.torture.processes import TortureWorker

Record = Callable[[results.Result], None]
StartTortureWorker = Callable[..., TortureWorker]


@pytest.fixture(scope="session")
def size() -> sizes.Sizes:
    return sizes.current()


@pytest.fixture(scope="session")
def results_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return results.results_path(tmp_path_factory.getbasetemp())


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    """The torture app on this test's store: it knows every task's options."""
    built = build(store_url)
    yield built
    built.close()


@pytest.fixture
def record(results_file: Path, size: sizes.Sizes) -> Record:
    """Append a scenario's figures to the results file, for the scorecard."""

    def write(result: results.Result) -> None:
        result.size = size.name
        results.append(results_file, result)

    return write


@pytest.fixture
def start_worker(
    store_url: str, sink: SinkFile, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StartTortureWorker]:
    """Start worker subprocesses (any URL, extra env); every one is killed at teardown."""
    started: list[TortureWorker] = []
    request.node.stash[WORKERS] = started

    def start(
        *,
        url: str | None = None,
        concurrency: int = 4,
        lease: float = 5.0,
        grace: float = 5.0,
        reap_interval: float = 0.5,
        queues: str = "default",
        env: dict[str, str] | None = None,
    ) -> TortureWorker:
        options = [
            f"--concurrency={concurrency}",
            f"--lease={lease}",
            f"--grace={grace}",
            f"--reap-interval={reap_interval}",
            "--prune-interval=3600",
            f"--queues={queues}",
        ]
        log = tmp_path / f"worker-{len(started)}.log"
        worker = TortureWorker(url or store_url, sink, log, options, env=env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
    sink.open_all()
