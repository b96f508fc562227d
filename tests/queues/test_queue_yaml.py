"""queue.yaml: App Engine's format read as it is, Conveyor's own keys, and every problem
reported with its file, line and key, with nothing applied unless the whole file is valid.

Parsing tests need no store; applying tests run on a real SQLite file and PostgreSQL.
"""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from conveyor import ConfigurationError, Conveyor, Priority
from conveyor.core.queue import QueueSettings
from conveyor.queue_yaml import (
    QueueChange,
    QueueFileError,
    load_queue_file,
    parse_queue_yaml,
)

APP_ENGINE_EXAMPLE = """\
queue:
- name: fooqueue
  rate: 1/s
  retry_parameters:
    task_retry_limit: 7
    task_age_limit: 2d
- name: barqueue
  rate: 1/s
  retry_parameters:
    min_backoff_seconds: 10
    max_backoff_seconds: 200
    max_doublings: 0
- name: bazqueue
  rate: 1/s
  retry_parameters:
    min_backoff_seconds: 10
    max_backoff_seconds: 200
    max_doublings: 3
"""
"""The example of App Engine's queue.yaml reference, unchanged."""


def write(tmp_path: Path, text: str, name: str = "queue.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def parse(text: str) -> list[QueueChange]:
    return parse_queue_yaml(textwrap.dedent(text), "queue.yaml")


def one(text: str) -> dict[str, object]:
    [change] = parse(text)
    return change.settings


def problems(text: str) -> list[str]:
    with pytest.raises(QueueFileError) as raised:
        parse(text)
    return [str(p) for p in raised.value.problems]


def stored(app: Conveyor) -> dict[str, QueueSettings]:
    return {q.name: q for q in app.store.list_queues()}


# -- App Engine's format ---------------------------------------------------------------


def test_the_app_engine_reference_example_applies_as_written(app: Conveyor, tmp_path: Path) -> None:
    applied = app.apply_queue_file(write(tmp_path, APP_ENGINE_EXAMPLE))

    assert [q.name for q in applied] == ["fooqueue", "barqueue", "bazqueue"]
    queues = stored(app)
    assert queues["fooqueue"] == QueueSettings(
        "fooqueue", rate=1.0, max_attempts=8, age_limit=2 * 86400.0
    )
    assert queues["barqueue"] == QueueSettings(
        "barqueue", rate=1.0, min_backoff=10.0, max_backoff=200.0, max_doublings=0
    )
    assert queues["bazqueue"] == QueueSettings(
        "bazqueue", rate=1.0, min_backoff=10.0, max_backoff=200.0, max_doublings=3
    )
    assert applied == [queues["fooqueue"], queues["barqueue"], queues["bazqueue"]]


@pytest.mark.parametrize(
    ("rate", "per_second"),
    [("1/s", 1.0), ("5/m", 5 / 60), ("100/h", 100 / 3600), ("1/d", 1 / 86400), ("2.5/s", 2.5)],
)
def test_rates_in_every_unit(rate: str, per_second: float) -> None:
    settings = one(f"queue:\n- name: q\n  rate: {rate}\n")
    assert settings["rate"] == pytest.approx(per_second)


@pytest.mark.parametrize(
    ("age", "seconds"), [("30s", 30.0), ("5m", 300.0), ("2h", 7200.0), ("3d", 259200.0)]
)
def test_task_age_limit_in_every_unit(age: str, seconds: float) -> None:
    settings = one(f"queue:\n- name: q\n  retry_parameters:\n    task_age_limit: {age}\n")
    assert settings == {"age_limit": seconds}


@pytest.mark.parametrize(("limit", "attempts"), [(0, 1), (1, 2), (7, 8)])
def test_task_retry_limit_counts_retries_so_attempts_are_one_more(
    limit: int, attempts: int
) -> None:
    settings = one(f"queue:\n- name: q\n  retry_parameters:\n    task_retry_limit: {limit}\n")
    assert settings == {"max_attempts": attempts}


def test_every_app_engine_key_maps_to_its_setting() -> None:
    settings = one(
        """\
        queue:
        - name: q
          rate: 50/s
          bucket_size: 10
          max_concurrent_requests: 4
          retry_parameters:
            task_retry_limit: 4
            task_age_limit: 2h
            min_backoff_seconds: 0.5
            max_backoff_seconds: 300
            max_doublings: 3
        """
    )
    assert settings == {
        "rate": 50.0,
        "burst": 10,
        "max_concurrent": 4,
        "max_attempts": 5,
        "age_limit": 7200.0,
        "min_backoff": 0.5,
        "max_backoff": 300.0,
        "max_doublings": 3,
    }


def test_conveyors_own_keys_sit_beside_app_engines(app: Conveyor, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        queue:
        - name: emails
          rate: 30/m
          max_per_key: 2
          lease_seconds: 2m
          paused: true
          priority: high
          age_limit: 1h
          completed_retention: 7d
          failed_retention: 30d
        """,
    )
    app.apply_queue_file(path)

    assert app.queue_settings("emails") == QueueSettings(
        "emails",
        rate=0.5,
        max_per_key=2,
        lease_seconds=120.0,
        paused=True,
        priority=Priority.HIGH,
        age_limit=3600.0,
        completed_retention=7 * 86400.0,
        failed_retention=30 * 86400.0,
    )


def test_secret_fields_are_a_list_of_payload_keys_and_null_clears_them(
    app: Conveyor, tmp_path: Path
) -> None:
    app.apply_queue_file(write(tmp_path, "queue:\n- name: pay\n  secret_fields: [card, pin]\n"))
    assert app.queue_settings("pay").secret_fields == ("card", "pin")

    app.apply_queue_file(write(tmp_path, "queue:\n- name: pay\n  secret_fields: null\n"))
    assert app.queue_settings("pay").secret_fields == ()


def test_app_engine_keys_with_no_meaning_here_are_accepted_and_change_nothing(
    app: Conveyor, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        """\
        application: my-app
        total_storage_limit: 1.2G
        resume_paused_queues: false
        queue:
        - name: pulled
          mode: pull
          acl:
          - user_email: bar@example.com
          - writer_email: user@example.com
        - name: pushed
          mode: push
          target: v2.worker
          rate: 5/s
        """,
    )
    changes = load_queue_file(path)
    assert [(c.name, c.settings, c.ignored) for c in changes] == [
        ("pulled", {}, ("mode", "acl")),
        ("pushed", {"rate": 5.0}, ("mode", "target")),
    ]

    app.apply_queue_file(path)
    assert stored(app) == {
        "pulled": QueueSettings("pulled"),
        "pushed": QueueSettings("pushed", rate=5.0),
    }


def test_rate_zero_stops_the_queue_as_app_engine_does(app: Conveyor, tmp_path: Path) -> None:
    app.queue("stopped", rate="5/s")
    app.apply_queue_file(write(tmp_path, "queue:\n- name: stopped\n  rate: 0\n"))
    assert app.queue_settings("stopped") == QueueSettings("stopped", paused=True)


def test_a_file_changes_only_what_it_names_and_null_clears(app: Conveyor, tmp_path: Path) -> None:
    app.queue("emails", rate="50/s", burst=10, max_concurrent=5, priority="low")
    app.queue("untouched", max_per_key=3)

    app.apply_queue_file(
        write(
            tmp_path,
            """\
            queue:
            - name: emails
              bucket_size: 20
              max_concurrent_requests: ~
              priority: null
            """,
        )
    )

    assert stored(app) == {
        "emails": QueueSettings("emails", rate=50.0, burst=20),
        "untouched": QueueSettings("untouched", max_per_key=3),
    }


def test_anchors_and_merge_keys_share_settings_and_own_keys_win() -> None:
    changes = parse(
        """\
        queue:
        - name: base
          retry_parameters: &retry
            task_retry_limit: 3
            min_backoff_seconds: 10
        - name: other
          <<: &limits
            bucket_size: 4
            max_concurrent_requests: 2
          max_concurrent_requests: 3
          retry_parameters: *retry
        - name: 2024
          <<: *limits
        """
    )
    assert [(c.name, c.settings) for c in changes] == [
        ("base", {"max_attempts": 4, "min_backoff": 10.0}),
        ("other", {"burst": 4, "max_concurrent": 3, "max_attempts": 4, "min_backoff": 10.0}),
        ("2024", {"burst": 4, "max_concurrent": 2}),
    ]


def test_an_empty_queue_list_is_valid_and_changes_nothing(app: Conveyor, tmp_path: Path) -> None:
    assert app.apply_queue_file(write(tmp_path, "queue:\n")) == []
    assert stored(app) == {}


# -- every problem, with its line --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "queue:\n- name: q\n  rate: 5/x\n",
            "queue.yaml:3: rate: '5/x' must look like 5/s, 30/m, 100/h or 1/d",
            id="bad-rate",
        ),
        pytest.param(
            "queue:\n- name: q\n  rate: [1, 2]\n",
            "queue.yaml:3: rate: must be a single value, not a list",
            id="rate-is-a-list",
        ),
        pytest.param(
            "queue:\n- name: q\n  bucket_size: 0\n",
            "queue.yaml:3: bucket_size: '0' must be a whole number >= 1",
            id="bucket-size-zero",
        ),
        pytest.param(
            "queue:\n- name: q\n  bucket_size: 2.5\n",
            "queue.yaml:3: bucket_size: '2.5' must be a whole number >= 1",
            id="bucket-size-fraction",
        ),
        pytest.param(
            "queue:\n- name: q\n  bucket_size: true\n",
            "queue.yaml:3: bucket_size: 'true' must be a whole number >= 1",
            id="bucket-size-bool",
        ),
        pytest.param(
            "queue:\n- name: q\n  bucket_size: 3000000000\n",
            "queue.yaml:3: bucket_size: '3000000000' must be at most 2147483647",
            id="bucket-size-too-large",
        ),
        pytest.param(
            "queue:\n- name: q\n  max_concurrent_requests: ten\n",
            "queue.yaml:3: max_concurrent_requests: 'ten' must be a whole number >= 1",
            id="max-concurrent-not-a-number",
        ),
        pytest.param(
            "queue:\n- name: q\n  retry_parameters:\n    task_retry_limit: -1\n",
            "queue.yaml:4: retry_parameters.task_retry_limit: '-1' must be a whole number >= 0",
            id="negative-retry-limit",
        ),
        pytest.param(
            "queue:\n- name: q\n  retry_parameters:\n    task_age_limit: 2x\n",
            "queue.yaml:4: retry_parameters.task_age_limit: '2x' must look like 30s, 5m, 2h "
            "or 3d, or be a number of seconds",
            id="bad-age-limit",
        ),
        pytest.param(
            "queue:\n- name: q\n  retry_parameters:\n    task_age_limit: 0s\n",
            "queue.yaml:4: retry_parameters.task_age_limit: '0s' must be more than zero",
            id="zero-age-limit",
        ),
        pytest.param(
            "queue:\n- name: q\n  retry_parameters:\n    min_backoff_seconds: -1\n",
            "queue.yaml:4: retry_parameters.min_backoff_seconds: '-1' must look like",
            id="negative-backoff",
        ),
        pytest.param(
            "queue:\n- name: q\n  retry_parameters:\n    max_doublings: -2\n",
            "queue.yaml:4: retry_parameters.max_doublings: '-2' must be a whole number >= 0",
            id="negative-doublings",
        ),
        pytest.param(
            "queue:\n- name: q\n  retry_parameters:\n"
            "    min_backoff_seconds: 60\n    max_backoff_seconds: 10\n",
            "queue.yaml:5: retry_parameters.max_backoff_seconds: max_backoff_seconds is below "
            "min_backoff_seconds",
            id="max-backoff-below-min",
        ),
        pytest.param(
            "queue:\n- name: q\n  retry_parameters: 5\n",
            "queue.yaml:3: retry_parameters: must be a mapping of retry settings",
            id="retry-parameters-not-a-mapping",
        ),
        pytest.param(
            "queue:\n- name: q\n  priority: urgent\n",
            "queue.yaml:3: priority: 'urgent' must be high, normal or low",
            id="bad-priority",
        ),
        pytest.param(
            "queue:\n- name: q\n  paused: maybe\n",
            "queue.yaml:3: paused: 'maybe' must be true or false",
            id="bad-paused",
        ),
        pytest.param(
            "queue:\n- name: q\n  lease_seconds: soon\n",
            "queue.yaml:3: lease_seconds: 'soon' must look like 30s, 5m, 2h or 3d",
            id="bad-lease",
        ),
        pytest.param(
            "queue:\n- name: q\n  max_per_key: 0\n",
            "queue.yaml:3: max_per_key: '0' must be a whole number >= 1",
            id="bad-max-per-key",
        ),
        pytest.param(
            "queue:\n- name: q\n  bucket_sise: 5\n",
            "queue.yaml:3: bucket_sise: unknown key; did you mean bucket_size?",
            id="misspelled-key",
        ),
        pytest.param(
            "queue:\n- name: q\n  burst: 5\n",
            "queue.yaml:3: burst: unknown key; write bucket_size",
            id="conveyor-name-for-an-app-engine-key",
        ),
        pytest.param(
            "queue:\n- name: q\n  color: blue\n",
            "queue.yaml:3: color: unknown key; known keys: name, rate, bucket_size",
            id="unknown-key",
        ),
        pytest.param(
            "queue:\n- name: q\n  retry_parameters:\n    task_retry_limt: 3\n",
            "queue.yaml:4: retry_parameters.task_retry_limt: unknown key; did you mean "
            "task_retry_limit?",
            id="unknown-retry-key",
        ),
        pytest.param(
            "queues:\n- name: q\n",
            "queue.yaml:1: queues: unknown key; did you mean queue?",
            id="unknown-top-level-key",
        ),
        pytest.param(
            "queue:\n- name: q\n  rate: 1/s\n  rate: 2/s\n",
            "queue.yaml:4: rate: given twice (first on line 3)",
            id="repeated-key",
        ),
        pytest.param(
            "queue:\n- name: q\n- name: r\n- name: q\n",
            "queue.yaml:4: name: queue 'q' is already defined on line 2",
            id="repeated-queue",
        ),
        pytest.param(
            "queue:\n- rate: 1/s\n",
            "queue.yaml:2: name: every queue entry needs a name",
            id="no-name",
        ),
        pytest.param(
            "queue:\n- name: ''\n",
            "queue.yaml:2: name: must be a non-empty string",
            id="empty-name",
        ),
        pytest.param(
            "queue:\n- just-a-name\n",
            "queue.yaml:2: queue: each entry must be a mapping such as '- name: emails'",
            id="entry-not-a-mapping",
        ),
        pytest.param(
            "queue:\n  name: q\n",
            "queue.yaml:1: queue: must be a list of queue entries",
            id="queue-not-a-list",
        ),
        pytest.param(
            "queue:\n- name: q\n  mode: pushy\n",
            "queue.yaml:3: mode: 'pushy' must be push or pull",
            id="bad-mode",
        ),
        pytest.param(
            "total_storage_limit: lots\nqueue:\n- name: q\n",
            "queue.yaml:1: total_storage_limit: 'lots' must look like 500M, 1.2G or 1024",
            id="bad-total-storage-limit",
        ),
        pytest.param(
            "queue:\n- name: q\n  retry_parameters:\n    task_age_limit: 1h\n  age_limit: 2h\n",
            "queue.yaml:5: age_limit: sets age_limit, already set by "
            "retry_parameters.task_age_limit on line 4",
            id="age-limit-given-both-ways",
        ),
        pytest.param(
            "queue:\n- name: q\n  paused: false\n  rate: 0\n",
            "queue.yaml:3: paused: false contradicts 'rate: 0', which pauses the queue",
            id="rate-zero-but-not-paused",
        ),
        pytest.param(
            "queue:\n- name: q\n  rate: 1/s\n bucket_size: 3\n",
            "queue.yaml:4: not valid YAML",
            id="yaml-syntax",
        ),
        pytest.param(
            "queue:\n- name: q\n  secret_fields: card\n",
            "queue.yaml:3: secret_fields: must be a list of payload keys such as [password]",
            id="secret-fields-not-a-list",
        ),
        pytest.param(
            "queue:\n- name: q\n  secret_fields: [card, 7]\n",
            "queue.yaml:3: secret_fields: entry 7 must be a payload key of 1 to 200 characters",
            id="secret-fields-entry-not-a-key",
        ),
        pytest.param("", "queue.yaml: the file is empty", id="empty-file"),
        pytest.param(
            "- name: q\n",
            "queue.yaml:1: expected a mapping with a top-level 'queue:' list",
            id="top-list",
        ),
    ],
)
def test_each_problem_names_file_line_and_key(text: str, expected: str) -> None:
    found = problems(text)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_the_issues_own_example_reads_exactly() -> None:
    text = "queue:\n- name: a\n  rate: 1/s\n- name: b\n  rate: 2/s\n- name: c\n  rate: 5/x\n"
    assert problems(text) == ["queue.yaml:7: rate: '5/x' must look like 5/s, 30/m, 100/h or 1/d"]


def test_every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        queue:
        - name: first
          rate: fast
          bucket_size: 0
        - name: second
          retry_parameters:
            task_retry_limit: many
          colour: red
        - rate: 1/s
        """,
    )
    with pytest.raises(QueueFileError) as raised:
        load_queue_file(path)

    error = raised.value
    assert isinstance(error, ConfigurationError)
    assert [(p.line, p.key) for p in error.problems] == [
        (3, "rate"),
        (4, "bucket_size"),
        (7, "retry_parameters.task_retry_limit"),
        (8, "colour"),
        (9, "name"),
    ]
    assert all(p.file == str(path) for p in error.problems)
    message = str(error)
    assert message.startswith(f"{path}: 5 problems, nothing applied:")
    for problem in error.problems:
        assert str(problem) in message
    assert f"{path}:3: rate: 'fast' must look like" in message


def test_a_missing_file_is_reported_with_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(QueueFileError) as raised:
        load_queue_file(missing)
    assert str(raised.value.problems[0]) == f"{missing}: cannot read: No such file or directory"


# -- all or nothing, against the store ---------------------------------------------------


def test_an_invalid_file_applies_nothing(app: Conveyor, tmp_path: Path) -> None:
    app.queue("emails", rate="10/s", burst=2)
    before = stored(app)
    path = write(
        tmp_path,
        """\
        queue:
        - name: emails
          rate: 50/s
        - name: reports
          max_concurrent_requests: 3
        - name: video
          bucket_size: -4
        """,
    )

    with pytest.raises(QueueFileError) as raised:
        app.apply_queue_file(path)

    assert [str(p) for p in raised.value.problems] == [
        f"{path}:7: bucket_size: '-4' must be a whole number >= 1"
    ]
    assert stored(app) == before


def test_a_file_invalid_only_with_the_stored_settings_applies_nothing(
    app: Conveyor, tmp_path: Path
) -> None:
    app.queue("emails", max_backoff=30)
    before = stored(app)
    path = write(
        tmp_path,
        """\
        queue:
        - name: reports
          rate: 1/s
        - name: emails
          retry_parameters:
            min_backoff_seconds: 60
        """,
    )

    with pytest.raises(QueueFileError) as raised:
        app.apply_queue_file(path)

    [problem] = raised.value.problems
    assert (problem.line, problem.key) == (6, "retry_parameters.min_backoff_seconds")
    assert "is below min_backoff_seconds (given its stored settings)" in problem.message
    assert stored(app) == before


def test_applying_the_same_file_twice_changes_nothing_the_second_time(
    app: Conveyor, tmp_path: Path
) -> None:
    path = write(tmp_path, APP_ENGINE_EXAMPLE)
    first = app.apply_queue_file(path)
    second = app.apply_queue_file(path)
    assert first == second
    assert stored(app) == {q.name: q for q in first}


def test_apply_leaves_what_a_worker_changed_on_the_queue_alone(
    app: Conveyor, tmp_path: Path
) -> None:
    """A queue paused by an operator stays paused when a file that does not say so is
    applied: the file sets what it names."""
    app.pause("emails")
    app.apply_queue_file(write(tmp_path, "queue:\n- name: emails\n  rate: 5/s\n"))
    assert app.queue_settings("emails") == replace(QueueSettings("emails", paused=True), rate=5.0)
