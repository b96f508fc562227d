"""The CLI through click's CliRunner, on a real store: output that matters, and state."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result

from conveyor import Conveyor, InvalidTransition, Priority, Status, TaskNotFound
from conveyor.cli.main import cli, main
from conveyor.store import Store
from tests import factories

TASK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    made = Conveyor(store_url)
    yield made
    made.close()


@pytest.fixture
def store(app: Conveyor) -> Store:
    return app.store


Run = Callable[..., Result]


@pytest.fixture
def run(store_url: str) -> Run:
    """`run("tasks", "list")` invokes the CLI on this test's store."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, [*args, "--url", store_url], input=input)

    return invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}{result.exception!r}"
    return result.output


def status_of(store: Store, task_id: str) -> Status | None:
    task = store.get(task_id)
    return None if task is None else task.status


def one_id(output: str) -> str:
    found: list[str] = TASK_ID.findall(output)
    assert len(found) == 1, f"expected one task id in {output!r}"
    return found[0]


# -- enqueue -------------------------------------------------------------------------


def test_enqueue_stores_the_task_with_every_option(run: Run, app: Conveyor) -> None:
    output = ok(
        run(
            "enqueue",
            "send_report",
            "--args",
            '[1, "two"]',
            "--kwargs",
            '{"to": "ops@example.com"}',
            "--priority",
            "high",
            "--delay",
            "60",
            "--queue",
            "reports",
            "--max-attempts",
            "5",
        )
    )

    task = app.get(one_id(output))
    assert output.startswith("enqueued: ")
    assert "scheduled" in output
    assert task.name == "send_report"
    assert task.args == [1, "two"]
    assert task.kwargs == {"to": "ops@example.com"}
    assert task.priority is Priority.HIGH
    assert task.queue == "reports"
    assert task.max_attempts == 5
    assert task.status is Status.SCHEDULED
    assert task.run_at - task.created_at >= timedelta(seconds=59)


def test_enqueue_defaults_to_a_queued_task_due_now(run: Run, app: Conveyor) -> None:
    task = app.get(one_id(ok(run("enqueue", "ping"))))
    assert (task.queue, task.status, task.priority) == ("default", Status.QUEUED, Priority.NORMAL)
    assert (task.args, task.kwargs) == ([], {})


def test_enqueue_twice_with_one_idempotency_key_stores_one_task(run: Run, app: Conveyor) -> None:
    first = ok(run("enqueue", "ping", "--idempotency-key", "k1"))
    second = ok(run("enqueue", "ping", "--idempotency-key", "k1"))

    assert one_id(first) == one_id(second)
    assert "already enqueued (same idempotency key)" in second
    assert len(app.list_tasks().tasks) == 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--args", "[1,", "--args is not valid JSON"),
        ("--args", '{"a": 1}', "--args must be a JSON array"),
        ("--kwargs", "{to: 1}", "--kwargs is not valid JSON"),
        ("--kwargs", "[1]", "--kwargs must be a JSON object"),
    ],
)
def test_enqueue_with_bad_json_fails_clearly_and_stores_nothing(
    run: Run, app: Conveyor, option: str, value: str, message: str
) -> None:
    result = run("enqueue", "ping", option, value)

    assert result.exit_code != 0
    assert message in result.output
    assert app.list_tasks().tasks == []


def test_enqueue_with_an_unknown_priority_is_refused(run: Run, app: Conveyor) -> None:
    result = run("enqueue", "ping", "--priority", "urgent")
    assert result.exit_code == 2
    assert "'urgent' is not one of" in result.output
    assert app.list_tasks().tasks == []


# -- tasks ---------------------------------------------------------------------------


def test_tasks_list_shows_tasks_newest_first_and_filters(run: Run, app: Conveyor) -> None:
    older = app.enqueue("alpha", queue="q1")
    newer = app.enqueue("beta", queue="q2", delay=3600)

    everything = ok(run("tasks", "list"))
    assert TASK_ID.findall(everything) == [newer.id, older.id]
    assert "alpha" in everything
    assert "beta" in everything
    assert TASK_ID.findall(ok(run("tasks", "list", "--queue", "q1"))) == [older.id]
    assert TASK_ID.findall(ok(run("tasks", "list", "--status", "scheduled"))) == [newer.id]
    assert TASK_ID.findall(ok(run("tasks", "list", "--name", "beta"))) == [newer.id]


def test_tasks_list_pages_with_a_cursor(run: Run, app: Conveyor) -> None:
    ids = [app.enqueue("job", [i]).id for i in range(5)]

    first = ok(run("tasks", "list", "--limit", "3"))
    cursor = re.search(r"more: --cursor (\S+)", first)
    assert cursor is not None
    second = ok(run("tasks", "list", "--limit", "3", "--cursor", cursor.group(1)))

    assert TASK_ID.findall(first) + TASK_ID.findall(second) == ids[::-1]
    assert "more:" not in second


def test_tasks_show_prints_the_task_with_its_error_history(run: Run, store: Store) -> None:
    task = factories.failed(store, error="ValueError: bad input", name="parse", args=["x"])

    output = ok(run("tasks", "show", task.id))

    assert task.id in output
    assert "parse" in output
    assert "failed" in output
    assert '["x"]' in output
    assert "attempt 1" in output
    assert "ValueError: bad input" in output
    assert "Traceback (most recent call last)" in output


def test_tasks_show_of_an_unknown_id_raises_task_not_found(run: Run) -> None:
    result = run("tasks", "show", "no-such-id")
    assert isinstance(result.exception, TaskNotFound)
    assert "no-such-id" in str(result.exception)


def test_tasks_cancel_cancels_a_queued_task(run: Run, app: Conveyor) -> None:
    handle = app.enqueue("ping")

    output = ok(run("tasks", "cancel", handle.id))

    assert f"{handle.id}: cancelled" in output
    assert app.get(handle.id).status is Status.CANCELLED


def test_tasks_cancel_of_a_finished_task_is_refused(run: Run, store: Store) -> None:
    task = factories.completed(store, result=1)
    result = run("tasks", "cancel", task.id)
    assert isinstance(result.exception, InvalidTransition)
    assert "already finished as completed" in str(result.exception)
    assert status_of(store, task.id) is Status.COMPLETED


def test_errors_a_user_can_cause_print_one_line_and_exit_1(
    store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["conveyor", "tasks", "show", "nope", "--url", store_url])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "error: no task has id 'nope'" in err
    assert "Traceback" not in err


# -- dead letters --------------------------------------------------------------------


def test_dlq_list_shows_failed_tasks_with_their_last_error(run: Run, store: Store) -> None:
    dead = factories.failed(store, error="KeyError: 'x'", name="lookup", queue="a")
    factories.enqueued(store, name="alive", queue="b")

    output = ok(run("dlq", "list"))

    assert TASK_ID.findall(output) == [dead.id]
    assert "lookup" in output
    assert "KeyError: 'x'" in output


def test_dlq_replay_by_id_requeues_with_fresh_attempts(run: Run, store: Store) -> None:
    dead = factories.failed(store, queue="a")
    other = factories.failed(store, queue="b")

    assert "replayed 1 task(s)" in ok(run("dlq", "replay", dead.id))

    replayed = store.get(dead.id)
    assert replayed is not None
    assert replayed.status is Status.QUEUED
    assert replayed.attempts == 0
    assert len(replayed.errors) == 1, "replay keeps the error history"
    assert status_of(store, other.id) is Status.FAILED


def test_dlq_replay_all_requeues_every_failed_task(run: Run, store: Store) -> None:
    dead = [factories.failed(store, queue=q) for q in ("a", "b", "c")]

    assert "replayed 3 task(s)" in ok(run("dlq", "replay", "--all"))
    assert all(status_of(store, t.id) is Status.QUEUED for t in dead)


def test_dlq_replay_of_a_task_that_is_not_failed_says_so(run: Run, store: Store) -> None:
    alive = factories.enqueued(store)
    result = run("dlq", "replay", alive.id)
    assert result.exit_code == 1
    assert f"not failed or not found: {alive.id}" in result.output
    assert status_of(store, alive.id) is Status.QUEUED


def test_dlq_replay_needs_ids_or_all(run: Run) -> None:
    result = run("dlq", "replay")
    assert result.exit_code == 2
    assert "give task ids or --all" in result.output


def test_dlq_purge_yes_deletes_every_failed_task_and_nothing_else(run: Run, store: Store) -> None:
    dead = [factories.failed(store, queue=q) for q in ("a", "b")]
    alive = factories.enqueued(store, queue="c")

    assert "purged 2 task(s)" in ok(run("dlq", "purge", "--yes"))

    assert [store.get(t.id) for t in dead] == [None, None]
    assert store.get(alive.id) is not None


def test_dlq_purge_asks_first_and_keeps_everything_on_no(run: Run, store: Store) -> None:
    dead = factories.failed(store)
    result = run("dlq", "purge", input="n\n")
    assert result.exit_code == 1
    assert "delete every failed task?" in result.output
    assert store.get(dead.id) is not None


# -- schema and queues ---------------------------------------------------------------


def test_migrate_creates_the_schema_once(empty_store_url: str) -> None:
    runner = CliRunner()
    first = ok(runner.invoke(cli, ["migrate", "--url", empty_store_url]))
    again = ok(runner.invoke(cli, ["migrate", "--url", empty_store_url]))

    assert re.search(r"applied migrations: \[1, 2.*\]", first)
    assert "schema is up to date" in again
    made = Conveyor(empty_store_url)
    try:
        assert made.enqueue("ping").task.status is Status.QUEUED
    finally:
        made.close()


def test_queues_list_shows_each_queue_with_its_counts(run: Run, store: Store) -> None:
    factories.enqueued(store, queue="emails")
    factories.enqueued(store, queue="emails")
    factories.failed(store, queue="reports")

    output = ok(run("queues", "list"))

    cells = [line.replace("│", " ").split() for line in output.splitlines()]
    rows = {row[0]: row for row in cells if row and row[0] in {"emails", "reports"}}
    assert set(rows) == {"emails", "reports"}
    # columns: queue, queued, scheduled, running, completed, failed, cancelled
    assert rows["emails"][1:7] == ["2", "0", "0", "0", "0", "0"]
    assert rows["reports"][1:7] == ["0", "0", "0", "0", "1", "0"]


def test_schedules_list_shows_each_schedule_with_its_next_run(run: Run) -> None:
    result = run("schedules", "list", "--app", "tests.apps.ticker:app")
    assert result.exit_code == 0, result.output
    assert "tick" in result.output
    assert "every 1s" in result.output
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", result.output)


def test_workflows_show_lists_members_with_what_they_wait_for(run: Run, app: Conveyor) -> None:
    from conveyor import chain

    @app.task
    def step(n: int) -> int:
        return n

    handle = chain(step.s(1), step.s()).enqueue()

    output = ok(run("workflows", "show", handle.id))

    assert handle.tasks[0].id in output and handle.tasks[1].id in output
    rows = [line for line in output.splitlines() if " step " in line]
    assert "queued" in rows[0] and "waiting" in rows[1]
    assert rows[1].split("│")[5].strip() == "1"
