"""Enqueue options are checked as they are given: a misspelt or bad option is named."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conveyor import Conveyor
from conveyor.core.task import ParentFailure, Priority
from conveyor.errors import ConfigurationError
from conveyor.tasks import TaskOptions


def test_an_unknown_option_is_named_with_the_known_ones() -> None:
    with pytest.raises(
        ConfigurationError, match=r"unknown enqueue option\(s\) \['dealy'\]; known: queue, priority"
    ):
        TaskOptions.of(dealy=5)  # type: ignore[call-arg]


def test_options_are_parsed() -> None:
    options = TaskOptions.of(priority="high", delay=2, on_parent_failure="run")
    assert (options.priority, options.delay, options.on_parent_failure) == (
        Priority.HIGH,
        2.0,
        ParentFailure.RUN,
    )
    assert TaskOptions.of().on_parent_failure is ParentFailure.CANCEL


def test_each_option_lands_in_its_own_field() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    connection = object()
    options = TaskOptions.of(
        queue="q",
        priority="low",
        delay=1.5,
        run_at=when,
        idempotency_key="k",
        max_attempts=4,
        timeout=9.0,
        group="g",
        concurrency_key="c",
        on_parent_failure="run",
        connection=connection,
    )
    assert options == TaskOptions(
        queue="q",
        priority=Priority.LOW,
        delay=1.5,
        run_at=when,
        idempotency_key="k",
        max_attempts=4,
        timeout=9.0,
        group="g",
        concurrency_key="c",
        on_parent_failure=ParentFailure.RUN,
    )
    assert options.connection is connection
    assert TaskOptions.of() == TaskOptions()


@pytest.mark.parametrize("value", ["later", None])
def test_a_bad_on_parent_failure_is_named(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"is not one of 'cancel', 'run'"):
        TaskOptions.of(on_parent_failure=value)  # type: ignore[arg-type]


def test_a_task_this_process_does_not_know_gets_the_defaults_each_time() -> None:
    app = Conveyor()
    first = app.new_task("elsewhere.report", [1], queue="reports")
    again = app.new_task("elsewhere.report", [2])
    assert (first.name, first.queue, first.args) == ("elsewhere.report", "reports", [1])
    assert (again.queue, again.args) == ("default", [2])
    with pytest.raises(ConfigurationError, match="task name must be a non-empty string"):
        app.new_task("")
