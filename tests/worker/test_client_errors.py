"""Bad input gets a clear error naming what is wrong, and stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conveyor import ConfigurationError, Conveyor, PayloadError


def test_enqueue_with_a_non_json_argument_names_it_and_stores_nothing(app: Conveyor) -> None:
    with pytest.raises(PayloadError) as raised:
        app.enqueue("run", [datetime.now(UTC)])
    message = str(raised.value)
    assert "argument #0 of task 'run'" in message
    assert "datetime" in message
    assert "ISO-8601" in message
    assert app.list_tasks().tasks == []


def test_enqueue_with_a_non_json_keyword_argument_names_it(app: Conveyor) -> None:
    run = app.registry.get("run")
    with pytest.raises(PayloadError, match="argument 'key' of task 'run'"):
        app.enqueue(run.name, kwargs={"key": {1, 2}})
    assert app.list_tasks().tasks == []


def test_enqueue_many_with_one_bad_item_stores_none_of_them(app: Conveyor) -> None:
    with pytest.raises(PayloadError, match="argument #0 of task 'arun'"):
        app.enqueue_many(
            [
                {"name": "run", "args": ["fine"]},
                {"name": "arun", "args": [object()]},
            ]
        )
    assert app.list_tasks().tasks == []


def test_unknown_url_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown scheme 'nonsense'"):
        Conveyor("nonsense://x")


def test_sqlite_url_with_a_host_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="three slashes"):
        Conveyor("sqlite://host/x.db")


def test_url_without_scheme_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="has no scheme"):
        Conveyor("conveyor.db")
