"""`conveyor queues ...` through click's CliRunner, on a real store: set, list, show, pause,
resume and apply, with the store checked after each, and bad values refused clearly."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conveyor import Conveyor, Priority
from conveyor.core.queue import QueueSettings
from tests import factories

Run = Callable[..., Result]


@pytest.fixture
def run(store_url: str) -> Run:
    """`run("queues", "list")` invokes the CLI on this test's store."""
    from conveyor.cli.main import cli

    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, [*args, "--url", store_url])

    return invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}{result.exception!r}"
    return result.output


def rows(output: str) -> dict[str, list[str]]:
    """Table rows by their first cell, cells split on the table's column bars."""
    found: dict[str, list[str]] = {}
    for raw in output.splitlines():
        line = raw.replace("┃", "│")
        if "│" not in line:
            continue
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        found.setdefault(cells[0], cells)
    return found


def stored(app: Conveyor) -> dict[str, QueueSettings]:
    return {q.name: q for q in app.store.list_queues()}


# -- set -------------------------------------------------------------------------------


def test_set_stores_every_setting_as_people_write_it(run: Run, app: Conveyor) -> None:
    output = ok(
        run(
            "queues",
            "set",
            "emails",
            "--rate",
            "50/s",
            "--burst",
            "10",
            "--max-concurrent",
            "8",
            "--max-per-key",
            "2",
            "--max-attempts",
            "5",
            "--min-backoff",
            "10s",
            "--max-backoff",
            "5m",
            "--max-doublings",
            "4",
            "--age-limit",
            "2h",
            "--lease-seconds",
            "45",
            "--priority",
            "high",
            "--completed-retention",
            "7d",
            "--failed-retention",
            "30d",
        )
    )

    assert app.queue_settings("emails") == QueueSettings(
        "emails",
        rate=50.0,
        burst=10,
        max_concurrent=8,
        max_per_key=2,
        max_attempts=5,
        min_backoff=10.0,
        max_backoff=300.0,
        max_doublings=4,
        age_limit=7200.0,
        lease_seconds=45.0,
        priority=Priority.HIGH,
        completed_retention=7 * 86400.0,
        failed_retention=30 * 86400.0,
    )
    assert re.search(r"emails\s*│\s*rate\s*│\s*\(default\)\s*│\s*50/s", output)
    assert re.search(r"age_limit\s*│\s*\(default\)\s*│\s*2h", output)


def test_set_keeps_what_it_does_not_name_and_clear_restores_defaults(
    run: Run, app: Conveyor
) -> None:
    app.queue("emails", rate="50/s", burst=10, max_concurrent=3)

    output = ok(run("queues", "set", "emails", "--clear", "rate", "--clear", "burst"))

    assert app.queue_settings("emails") == QueueSettings("emails", max_concurrent=3)
    assert re.search(r"rate\s*│\s*50/s\s*│\s*\(default\)", output)


def test_secret_fields_are_set_as_a_whole_shown_and_cleared(run: Run, app: Conveyor) -> None:
    app.queue("pay", secret_fields=["token"])

    output = ok(run("queues", "set", "pay", "--secret-field", "card", "--secret-field", "pin"))
    assert app.queue_settings("pay").secret_fields == ("card", "pin")
    assert re.search(r"secret_fields\s*│\s*token\s*│\s*card, pin", output)
    assert rows(ok(run("queues", "show", "pay")))["secret_fields"][1] == "card, pin"

    refused = run("queues", "set", "pay", "--secret-field", "")
    assert refused.exit_code == 1
    assert "secret_fields entry '' must be a payload key of 1 to 200" in refused.output
    assert app.queue_settings("pay").secret_fields == ("card", "pin")

    ok(run("queues", "set", "pay", "--clear", "secret_fields"))
    assert app.queue_settings("pay").secret_fields == ()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "5/x"], "rate '5/x' must look like 5/s, 30/m, 100/h or 1/d"),
        (["--rate", "0/s"], "must be above zero"),
        (["--age-limit", "soon"], "duration 'soon' must look like 30s, 5m, 2h or 3d"),
        (["--burst", "0"], "0 is not in the range 1<=x<=2147483647"),
        (["--max-concurrent", "many"], "'many' is not a valid integer"),
        (["--priority", "urgent"], "'urgent' is not one of 'high', 'normal', 'low'"),
        (["--clear", "colour"], "'colour' is not one of"),
        (["--rate", "5/s", "--clear", "rate"], "--rate given with --clear of the same setting"),
        ([], "give at least one setting to change"),
    ],
)
def test_set_refuses_bad_values_clearly_and_changes_nothing(
    run: Run, app: Conveyor, args: list[str], message: str
) -> None:
    app.queue("emails", rate="1/s")
    result = run("queues", "set", "emails", *args)

    assert result.exit_code == 2, result.output
    assert message in result.output
    assert stored(app) == {"emails": QueueSettings("emails", rate=1.0)}


def test_set_refuses_a_combination_that_cannot_work(run: Run, app: Conveyor) -> None:
    app.queue("emails", max_backoff="5m")
    result = run("queues", "set", "emails", "--min-backoff", "1h")

    assert result.exit_code == 1
    assert "Error: queue 'emails': max_backoff is below min_backoff" in result.output
    assert app.queue_settings("emails") == QueueSettings("emails", max_backoff=300.0)


# -- list and show ---------------------------------------------------------------------


def test_list_shows_counts_age_pause_and_limits(run: Run, app: Conveyor) -> None:
    factories.enqueued(app.store, queue="emails")
    factories.enqueued(app.store, queue="emails")
    factories.failed(app.store, queue="reports")
    app.queue("emails", rate="30/m", burst=5, max_concurrent=4, max_attempts=6, age_limit="2h")
    app.queue("idle", max_per_key=2, min_backoff=10, max_backoff="3m", max_doublings=2)
    app.pause("reports")

    table = rows(ok(run("queues", "list")))

    header = table["queue"]
    assert header[:8] == [
        "queue",
        "queued",
        "scheduled",
        "running",
        "completed",
        "failed",
        "cancelled",
        "waiting",
    ]
    assert header[8:] == [
        "oldest queued",
        "paused",
        "rate",
        "max concurrent",
        "max per key",
        "retry",
        "age limit",
    ]
    emails, reports, idle = table["emails"], table["reports"], table["idle"]
    assert emails[1:8] == ["2", "0", "0", "0", "0", "0", "0"]
    assert re.fullmatch(r"\d+\.\ds", emails[8])
    assert emails[9:] == ["no", "30/m, burst 5", "4", "-", "6 attempts", "2h"]
    assert reports[1:8] == ["0", "0", "0", "0", "1", "0", "0"]
    assert reports[8:] == ["", "yes", "-", "-", "-", "-", "-"]
    assert idle[1:8] == ["0"] * 7
    assert idle[9:] == ["no", "-", "-", "2", "backoff 10s..3m, 2 doublings", "-"]


def test_show_lists_every_setting_and_what_unset_means(run: Run, app: Conveyor) -> None:
    factories.enqueued(app.store, queue="emails")
    app.queue("emails", rate="50/s", priority="low", lease_seconds="90s")

    table = rows(ok(run("queues", "show", "emails")))

    assert table["tasks"][1].startswith("queued 1, scheduled 0, running 0")
    assert table["paused"][1] == "no"
    assert table["rate"][1] == "50/s"
    assert table["burst"][1] == "1 (default)"
    assert table["max_concurrent"][1] == "no limit"
    assert table["max_attempts"][1] == "the task's own, else 3"
    assert table["lease_seconds"][1] == "90s"
    assert table["priority"][1] == "low"
    assert table["failed_retention"][1] == "the server's (30d unless set)"


def test_show_of_a_queue_nobody_configured_shows_the_defaults(run: Run) -> None:
    table = rows(ok(run("queues", "show", "nobody")))
    assert table["tasks"][1].startswith("queued 0")
    assert table["rate"][1] == "no limit"


# -- pause and resume --------------------------------------------------------------------


def test_pause_and_resume(run: Run, app: Conveyor) -> None:
    app.queue("emails", rate="5/s")

    assert "paused: emails" in ok(run("queues", "pause", "emails"))
    assert app.queue_settings("emails") == QueueSettings("emails", paused=True, rate=5.0)

    assert "resumed: emails" in ok(run("queues", "resume", "emails"))
    assert app.queue_settings("emails") == QueueSettings("emails", rate=5.0)


# -- apply -----------------------------------------------------------------------------

GOOD = """\
queue:
- name: fooqueue
  rate: 1/s
  retry_parameters:
    task_retry_limit: 7
    task_age_limit: 2d
- name: emails
  rate: 50/s
  bucket_size: 10
  max_concurrent_requests: 10
  max_per_key: 2
- name: pulled
  mode: pull
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queue.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_apply_sets_each_queue_and_prints_what_changed(
    run: Run, app: Conveyor, tmp_path: Path
) -> None:
    app.queue("emails", rate="10/s")

    output = ok(run("queues", "apply", str(write(tmp_path, GOOD))))

    assert stored(app) == {
        "fooqueue": QueueSettings("fooqueue", rate=1.0, max_attempts=8, age_limit=172800.0),
        "emails": QueueSettings("emails", rate=50.0, burst=10, max_concurrent=10, max_per_key=2),
        "pulled": QueueSettings("pulled"),
    }
    assert "queue settings applied" in output
    assert re.search(r"fooqueue\s*│\s*max_attempts\s*│\s*\(default\)\s*│\s*8", output)
    assert re.search(r"emails\s*│\s*rate\s*│\s*10/s\s*│\s*50/s", output)
    assert re.search(r"pulled\s*│\s*\(unchanged\)", output)
    assert "pulled: ignored (no effect in Conveyor): mode" in output


def test_apply_dry_run_shows_the_changes_and_applies_nothing(
    run: Run, app: Conveyor, tmp_path: Path
) -> None:
    output = ok(run("queues", "apply", str(write(tmp_path, GOOD)), "--dry-run"))

    assert "dry run: nothing applied" in output
    assert re.search(r"emails\s*│\s*burst\s*│\s*\(default\)\s*│\s*10", output)
    assert stored(app) == {}


def test_apply_of_an_invalid_file_prints_every_problem_and_applies_nothing(
    run: Run, app: Conveyor, tmp_path: Path
) -> None:
    app.queue("emails", rate="10/s")
    path = write(
        tmp_path,
        """\
        queue:
        - name: emails
          rate: 50/s
        - name: reports
          rate: 5/x
          retry_parameters:
            task_retry_limit: -1
          colour: red
        """,
    )

    result = run("queues", "apply", str(path))

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{path}:5: rate: '5/x' must look like 5/s, 30/m, 100/h or 1/d" in lines
    assert f"{path}:7: retry_parameters.task_retry_limit: '-1' must be a whole number >= 0" in (
        lines
    )
    assert any(line.startswith(f"{path}:8: colour: unknown key") for line in lines)
    assert f"Error: 3 problems in {path}; nothing was applied" in lines
    assert stored(app) == {"emails": QueueSettings("emails", rate=10.0)}


def test_apply_of_a_missing_file_fails_clearly(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run("queues", "apply", str(missing))
    assert result.exit_code == 1
    assert f"{missing}: cannot read: No such file or directory" in result.output
