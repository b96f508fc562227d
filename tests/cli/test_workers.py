"""`conveyor workers list` and `conveyor top --once` through CliRunner, on a real store."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner, Result

from conveyor import Conveyor
from conveyor.core.workers import NewWorker
from tests.factories import later

Run = Callable[..., Result]


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    made = Conveyor(store_url)
    yield made
    made.close()


@pytest.fixture
def run(store_url: str) -> Run:
    from conveyor.cli.main import cli

    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, [*args, "--url", store_url])

    return invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}{result.exception!r}"
    return result.output


def fleet(app: Conveyor) -> None:
    """An alive worker on two queues, one that stopped beating long ago, one stopped."""
    store = app.store
    store.register_worker(NewWorker("alive-1", "web-1", 11, ("default", "emails"), 8, 10.0))
    store.heartbeat_worker("alive-1", 3)
    long_ago = later(-3600)
    store.register_worker(NewWorker("dead-1", "web-2", 22, ("default",), 4, 10.0), now=long_ago)
    store.register_worker(NewWorker("stopped-1", "web-3", 33, ("reports",), 2, 10.0))
    store.deregister_worker("stopped-1")


def row(output: str, first_cell: str) -> str:
    [line] = [ln for ln in output.splitlines() if re.match(rf"│ {first_cell}\s", ln)]
    return line


def test_workers_list_shows_each_worker_alive_or_dead(run: Run, app: Conveyor) -> None:
    fleet(app)

    output = ok(run("workers", "list"))

    alive = row(output, "alive-1")
    assert all(cell in alive for cell in ("web-1", "11", "default,emails", "3/8", "alive"))
    dead = row(output, "dead-1")
    assert all(cell in dead for cell in ("web-2", "22", "0/4", "dead"))
    assert re.search(r"1h 0m ago|1h 1m ago", dead)
    assert "stopped" in row(output, "stopped-1")


def test_workers_list_with_no_workers_prints_an_empty_table(run: Run) -> None:
    output = ok(run("workers", "list"))

    assert "workers" in output
    assert "alive" not in output


def test_top_once_shows_queues_and_workers(run: Run, app: Conveyor) -> None:
    fleet(app)
    app.enqueue_many([{"name": "job", "queue": "default"} for _ in range(3)])
    app.enqueue_many([{"name": "job", "queue": "emails"}])

    output = ok(run("top", "--once"))

    assert "conveyor top" in output
    assert "1 worker(s) alive, 2 dead or stopped" in output
    default = row(output, "default")
    assert re.search(r"│ default\s+│\s+3 │\s+0 │\s+0 │\s+0 │\s+0 │", default), default
    assert re.search(r"│\s+1 │ no", default), "one alive worker consumes default"
    assert re.search(r"│\s+1 │ no", row(output, "emails"))
    assert "alive" in row(output, "alive-1")
    assert "dead" in row(output, "dead-1")


def test_top_once_shows_an_unavailable_store_instead_of_failing(tmp_path: object) -> None:
    from conveyor.cli.main import cli

    result = CliRunner().invoke(
        cli, ["top", "--once", "--url", f"sqlite:///{tmp_path}/missing/conveyor.db"]
    )

    assert result.exit_code == 0, result.output
    assert "store unavailable" in result.output


def test_top_refuses_a_zero_interval(run: Run) -> None:
    result = run("top", "--interval", "0")

    assert result.exit_code == 2
    assert "--interval" in result.output
