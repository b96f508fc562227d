"""Schedules kept in the store: from a queue file's `cron:` list, over HTTP and the CLI,
fired by every node's cron duty without any code for them."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from conveyor import ConfigurationError, Conveyor
from conveyor.cli.main import cli
from conveyor.core.cron import Misfire, ScheduleSpec, tick_key
from conveyor.queue_yaml import QueueFileError, parse_queue_document
from conveyor.scheduler.cron import Cron
from conveyor.store import Store
from conveyor.store.base import TaskFilter
from tests.scheduler.test_cron import at, stamp

NIGHTLY = ScheduleSpec(
    name="nightly",
    task="report",
    queue="reports",
    cron="0 3 * * *",
    timezone="Europe/Berlin",
    kwargs={"format": "pdf"},
)
EVERY = ScheduleSpec(name="pulse", task="ping", every=1.0, args=[1], misfire=Misfire.SKIP)


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    built = Conveyor(store_url)
    yield built
    built.close()


def test_the_store_keeps_replaces_and_deletes_schedules(store: Store) -> None:
    store.set_schedules([NIGHTLY, EVERY])
    assert store.list_schedules() == [NIGHTLY, EVERY]

    moved = ScheduleSpec(name="nightly", task="report", every=60.0)
    store.set_schedules([moved])
    assert store.list_schedules() == [moved, EVERY]

    assert store.delete_schedules(["nightly", "missing"]) == ["nightly"]
    assert store.list_schedules() == [EVERY]


def test_the_cron_duty_fires_stored_schedules_with_no_code_for_them(app: Conveyor) -> None:
    app.store.set_schedules([EVERY])
    cron = Cron(())
    for second in (10, 10.5, 11, 12):
        cron.run_once(app.store, now=stamp(second))

    ticks = app.store.list(TaskFilter(name="ping")).tasks
    keys = sorted(t.idempotency_key or "" for t in ticks)
    assert keys == [tick_key("pulse", at(s)) for s in (9, 10, 11, 12)]
    assert {tuple(t.args) for t in ticks} == {(1,)}


def test_a_schedule_in_code_shadows_a_stored_one_of_the_same_name(app: Conveyor) -> None:
    @app.periodic(every=60, name="pulse")
    @app.task
    def ping(n: int = 0) -> int:
        return n

    app.store.set_schedules([EVERY])
    [info] = app.schedules(now=at(0))
    assert not info.stored
    assert info.schedule.rule.describe() == "every 60s"


def test_set_schedule_checks_what_it_stores(app: Conveyor) -> None:
    info = app.set_schedule("nightly", "report", cron="0 3 * * *", timezone="Europe/Berlin")
    assert info.stored and info.next_run.hour == 3
    with pytest.raises(ConfigurationError, match="exactly one of cron and every"):
        app.set_schedule("bad", "report")
    with pytest.raises(ConfigurationError, match="invalid cron expression"):
        app.set_schedule("bad", "report", cron="61 * * * *")
    with pytest.raises(ConfigurationError, match="unknown timezone"):
        app.set_schedule("bad", "report", every=5, timezone="Mars/Olympus")
    assert [s.name for s in app.store.list_schedules()] == ["nightly"]


QUEUE_FILE = """\
queue:
- name: reports
  rate: 5/s
cron:
- description: the nightly report
  name: nightly
  task: report
  schedule: "0 3 * * *"
  timezone: Europe/Berlin
  queue: reports
  kwargs: {format: pdf}
- task: ping
  name: pulse
  schedule: every 1 seconds
  args: [1]
  misfire: skip
"""


def test_a_queue_file_cron_list_is_read_and_applied(app: Conveyor, tmp_path: Path) -> None:
    document = parse_queue_document(QUEUE_FILE)
    assert document.schedules == [NIGHTLY, EVERY]

    path = tmp_path / "queue.yaml"
    path.write_text(QUEUE_FILE)
    app.apply_queue_file(path)

    assert app.store.list_schedules() == [NIGHTLY, EVERY]
    assert app.queue_settings("reports").rate == 5.0


def test_a_bad_cron_entry_names_its_line_and_nothing_is_applied(
    app: Conveyor, tmp_path: Path
) -> None:
    text = textwrap.dedent(
        """\
        queue:
        - name: reports
          rate: 5/s
        cron:
        - task: report
          schedule: "0 3 * *"
        - schedule: every 5 minutes
        - task: ping
          schedule: every 5 minutes
          colour: red
        """
    )
    with pytest.raises(QueueFileError) as raised:
        parse_queue_document(text)
    found = [str(p) for p in raised.value.problems]
    assert any(p.startswith("queue.yaml:5: cron: schedule 'report': invalid cron") for p in found)
    assert any(p.startswith("queue.yaml:7: cron: every schedule needs 'task'") for p in found)
    assert any(p.startswith("queue.yaml:10: colour: unknown key") for p in found)

    path = tmp_path / "queue.yaml"
    path.write_text(text)
    with pytest.raises(QueueFileError):
        app.apply_queue_file(path)
    assert app.store.list_schedules() == []
    assert app.store.list_queues() == []


def test_the_cli_sets_lists_and_deletes_stored_schedules(store_url: str, app: Conveyor) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--url", store_url], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run("schedules", "set", "pulse", "--task", "ping", "--every", "30", "--args", "[1]")
    assert app.store.list_schedules() == [
        ScheduleSpec(name="pulse", task="ping", every=30.0, args=[1])
    ]
    listed = run("schedules", "list")
    assert "pulse" in listed and "every 30s" in listed and "store" in listed
    run("schedules", "delete", "pulse")
    assert app.store.list_schedules() == []
