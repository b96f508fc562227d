"""`app.map`: items to arguments, chunked enqueue, progress and results, on both backends."""

from __future__ import annotations

import json
import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conveyor import BatchHandle, Conveyor, PayloadError, Status, TaskCancelled, TaskFailed
from conveyor.cli.main import cli
from conveyor.worker.config import WorkerConfig
from conveyor.worker.runtime import Worker
from tests.worker.conftest import RunningWorker

BATCH_ID = re.compile(r"batch ([0-9a-f-]{36}): (\d+) task")


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    made = Conveyor(store_url)

    @made.task(queue="batch")
    def add(a: int, b: int = 0) -> int:
        return a + b

    @made.task(queue="batch")
    def boom(a: int) -> int:
        if a == 3:
            raise ValueError(f"no {a}")
        return a

    yield made
    made.close()


def members(app: Conveyor, batch: BatchHandle) -> list[tuple[list[Any], dict[str, Any]]]:
    return [(t.args, t.kwargs) for t in (app.get(i) for i in batch.task_ids())]


def finish_all(
    app: Conveyor, results: dict[int, Any] | None = None, fail: int | None = None
) -> None:
    """Act as a worker through the store: claim everything and complete it (args sum)."""
    while claimed := app.lease("batch", 100, "test-worker", 30.0):
        for c in claimed:
            if fail is not None and c.task.args == [fail]:
                app.fail(c.task.id, c.lease.token, "ValueError: no", retry=False)
            else:
                app.complete(
                    c.task.id, c.lease.token, sum(c.task.args) + sum(c.task.kwargs.values())
                )


# -- items and chunks ---------------------------------------------------------------


def test_items_map_to_args_kwargs_or_a_single_argument(app: Conveyor) -> None:
    items: list[Any] = [(1, 2), [3], {"a": 4, "b": 5}, 6, "seven", ([8, 9],), None]
    batch = app.map("add", items)
    assert len(batch) == 7
    assert members(app, batch) == [
        ([1, 2], {}),
        ([3], {}),
        ([], {"a": 4, "b": 5}),
        ([6], {}),
        (["seven"], {}),
        ([[8, 9]], {}),
        ([None], {}),
    ]


def test_chunks_store_every_item_in_order(app: Conveyor) -> None:
    seen: list[int] = []
    add = app.registry.get("add")
    batch = app.map(add.name, ((i,) for i in range(10)), chunk_size=3, on_progress=seen.append)
    assert seen == [3, 6, 9, 10]
    assert len(batch) == 10
    assert [args for args, _ in members(app, batch)] == [[i] for i in range(10)]
    page = app.list_tasks(name="add", limit=100)
    assert sorted(t.id for t in page.tasks) == sorted(batch.task_ids())
    assert {t.queue for t in page.tasks} == {"batch"}
    assert batch.task_id(-1) == list(batch.task_ids())[-1]


def test_options_apply_to_every_member_and_a_key_becomes_a_prefix(app: Conveyor) -> None:
    batch = app.map("add", [(1,), (2,)], queue="other", priority="high", idempotency_key="k")
    tasks = [app.get(i) for i in batch.task_ids()]
    assert [t.queue for t in tasks] == ["other", "other"]
    assert [str(t.priority) for t in tasks] == ["high", "high"]
    again = app.map("add", [(1,), (2,), (3,)], queue="other", idempotency_key="k")
    assert list(again.task_ids())[:2] == list(batch.task_ids())
    assert app.list_tasks(queue="other").tasks.__len__() == 3


def test_a_bad_chunk_stores_nothing_of_it_and_earlier_chunks_stay(app: Conveyor) -> None:
    items: list[Any] = [(1,), (2,), (3,), (4,), (object(),), (6,)]
    with pytest.raises(PayloadError) as caught:
        app.map("add", items, chunk_size=3)
    assert "3 task(s) of earlier chunks stay enqueued" in "".join(caught.value.__notes__)
    stored = sorted(t.args[0] for t in app.list_tasks(name="add").tasks)
    assert stored == [1, 2, 3]


def test_chunk_size_must_be_positive(app: Conveyor) -> None:
    with pytest.raises(Exception, match="chunk_size"):
        app.map("add", [(1,)], chunk_size=0)


# -- progress and results -----------------------------------------------------------


def test_progress_and_wait_after_the_store_completes_the_members(app: Conveyor) -> None:
    batch = app.map("add", [(i, i) for i in range(7)], chunk_size=2)
    assert batch.progress() == (0, 0, 7)
    with pytest.raises(TimeoutError, match=batch.id):
        batch.wait(timeout=0.1)
    finish_all(app)
    assert batch.progress() == (7, 0, 7)
    assert batch.wait(timeout=5) == [2 * i for i in range(7)]
    assert re.fullmatch(r"[0-9a-f-]{36}", batch.id)


def test_failed_and_cancelled_members_count_as_failed_and_surface(app: Conveyor) -> None:
    batch = app.map("boom", [1, 2, 3, 4, 5])
    app.cancel(batch.task_id(4))
    finish_all(app, fail=3)
    assert batch.progress() == (3, 2, 5)
    with pytest.raises(TaskFailed) as caught:
        batch.wait(timeout=5)
    assert caught.value.task_id == batch.task_id(2)
    assert "member 2 of 5" in "".join(caught.value.__notes__)
    results = batch.wait(timeout=5, return_exceptions=True)
    assert results[:2] == [1, 2]
    assert results[3] == 4
    assert isinstance(results[2], TaskFailed)
    assert isinstance(results[4], TaskCancelled)


def test_a_real_worker_runs_the_batch(app: Conveyor) -> None:
    batch = app.map(app.registry.get("add").name, [(i, 1) for i in range(50)], chunk_size=8)
    config = WorkerConfig(concurrency=4, lease_seconds=5.0, reap_interval=0.2)
    running = RunningWorker(Worker(app.store, app.registry, ["batch"], config))
    try:
        assert batch.wait(timeout=30) == [i + 1 for i in range(50)]
        assert batch.progress() == (50, 0, 50)
    finally:
        running.stop()
    assert {app.get(i).status for i in batch.task_ids()} == {Status.COMPLETED}


def test_a_failing_member_fails_the_wait_with_a_real_worker(app: Conveyor) -> None:
    batch = app.map("boom", [1, 2, 3], max_attempts=1)
    config = WorkerConfig(concurrency=2, lease_seconds=5.0, reap_interval=0.2)
    running = RunningWorker(Worker(app.store, app.registry, ["batch"], config))
    try:
        with pytest.raises(TaskFailed, match="no 3"):
            batch.wait(timeout=30)
        assert batch.progress() == (2, 1, 3)
    finally:
        running.stop()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_twenty_thousand_items_enqueue_in_bounded_memory(app: Conveyor, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("memory bound checked once, on SQLite")
    count = 20_000
    produced = 0
    ahead: list[int] = []

    def items() -> Iterator[tuple[int]]:
        nonlocal produced
        for i in range(count):
            produced += 1
            yield (i,)

    tracemalloc.start()
    try:
        batch = app.map(
            "add", items(), chunk_size=1000, on_progress=lambda n: ahead.append(produced - n)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(batch) == count
    assert max(ahead) <= 1000  # the generator is never read more than a chunk ahead
    assert batch.task_id(count - 1) == app.list_tasks(name="add", limit=1).tasks[0].id
    # 16 bytes per member id, one chunk of tasks at a time: a few MB. 20k TaskHandles
    # with their Task rows would take well over 20 MB.
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB"


# -- the CLI ------------------------------------------------------------------------


def test_cli_enqueues_a_jsonl_file(app: Conveyor, store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "args.jsonl"
    lines = [json.dumps([i, i]) for i in range(25)] + ["", json.dumps({"a": 1, "b": 2})]
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(
        cli,
        ["enqueue", "add", "--from-file", str(path), "--chunk-size", "4", "--priority", "low"],
        catch_exceptions=False,
        env={"CONVEYOR_URL": store_url},
    )
    assert result.exit_code == 0, result.output
    found = BATCH_ID.search(result.output)
    assert found is not None, result.output
    assert found.group(2) == "26"
    assert "tasks/s" in result.output
    tasks = app.list_tasks(name="add", limit=100).tasks
    assert len(tasks) == 26
    assert {str(t.priority) for t in tasks} == {"low"}
    assert sorted(t.args for t in tasks if t.args)[:2] == [[0, 0], [1, 1]]
    assert [t.kwargs for t in tasks if t.kwargs] == [{"a": 1, "b": 2}]


@pytest.mark.parametrize(
    ("bad", "message"), [("[1, 2", "not valid JSON"), ("42", "must be a JSON array")]
)
def test_cli_names_a_bad_line_and_enqueues_nothing(
    app: Conveyor, store_url: str, tmp_path: Path, bad: str, message: str
) -> None:
    path = tmp_path / "args.jsonl"
    path.write_text("[1]\n[2]\n[3]\n" + bad + "\n[5]\n")
    result = CliRunner().invoke(
        cli, ["enqueue", "add", "--from-file", str(path), "--chunk-size", "2", "--url", store_url]
    )
    assert result.exit_code == 1
    assert "line 4" in result.output
    assert message in result.output
    assert app.list_tasks(name="add").tasks == []


def test_cli_from_file_and_args_are_exclusive(store_url: str, tmp_path: Path) -> None:
    path = tmp_path / "args.jsonl"
    path.write_text("[1]\n")
    result = CliRunner().invoke(
        cli, ["enqueue", "add", "--from-file", str(path), "--args", "[1]", "--url", store_url]
    )
    assert result.exit_code == 2
    assert "cannot be combined" in result.output
