"""A push target set from Python, queue.yaml, the HTTP API and the CLI; secrets never shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from conveyor import ConfigurationError, Conveyor
from conveyor.api.auth import Tokens
from conveyor.cli.main import cli
from conveyor.core.target import Target
from tests.api.conftest import API, LiveServer

ALLOW = "https://*.example.com/*"


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    conveyor = Conveyor(store_url, push_allow=ALLOW)
    yield conveyor
    conveyor.close()


def test_python_sets_a_target_with_limits_and_a_secret(app: Conveyor) -> None:
    settings = app.queue(
        "hooks",
        target="https://svc.example.com/handle",
        secret="s3cret",
        rate="10/s",
        max_concurrent=5,
    )
    assert settings.target == Target("https://svc.example.com/handle")
    stored = app.queue_settings("hooks")
    assert stored == settings
    assert stored.secrets == ["s3cret"]
    assert stored.max_concurrent == 5
    assert "s3cret" not in repr(stored)


def test_the_richer_form_sets_method_headers_and_deadline(app: Conveyor) -> None:
    target = {
        "url": "https://svc.example.com/tasks/{type}",
        "method": "put",
        "headers": {"Authorization": "Bearer x"},
        "deadline": "10m",
    }
    settings = app.queue("hooks", target=target)
    assert settings.target == Target(
        "https://svc.example.com/tasks/{type}", "PUT", {"Authorization": "Bearer x"}, 600.0
    )
    assert settings.target.url_for("a b/c") == "https://svc.example.com/tasks/a%20b%2Fc"


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("ftp://svc.example.com/", "scheme must be http or https"),
        ("https:///path", "no host"),
        ("http://[::1/x", "not a valid URL"),
        ("https://svc.example.com:99999/", "not a valid URL"),
        ("https://svc example.com/", "spaces and control characters"),
        ("https://u:p@svc.example.com/", "credentials in the URL"),
        ("https://{type}.example.com/", "may only appear in the path"),
        ("https://svc.example.com/{name}", "the only placeholder is '{type}'"),
        ({"url": "https://svc.example.com/", "deadline": "31m"}, "at most 1800 seconds"),
        ({"url": "https://svc.example.com/", "deadline": 0}, "above 0"),
        ({"url": "https://svc.example.com/", "method": "GET"}, "must be one of POST"),
        ({"url": "https://svc.example.com/", "headers": {"Conveyor-X": "1"}}, "set by the"),
        ({"url": "https://svc.example.com/", "timeout": 3}, "unknown field(s) timeout"),
        ({"method": "POST"}, "needs a url"),
    ],
)
def test_a_target_that_cannot_work_is_refused_by_name(
    app: Conveyor, target: object, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        app.queue("hooks", target=target)
    assert problem in str(refused.value)
    assert app.queue_settings("hooks").target is None


def test_previous_secret_needs_a_secret(app: Conveyor) -> None:
    with pytest.raises(ConfigurationError, match="previous_secret is set without a secret"):
        app.queue("hooks", previous_secret="old")


def test_clearing_the_target_makes_it_a_worker_queue_again(app: Conveyor) -> None:
    app.queue("hooks", target="https://svc.example.com/")
    assert app.queue("hooks", target=None).target is None


def test_queue_yaml_sets_a_target_and_ignores_app_engine_service_names(
    app: Conveyor, tmp_path: Path
) -> None:
    file = tmp_path / "queue.yaml"
    file.write_text(
        "queue:\n"
        "- name: hooks\n"
        "  rate: 100/s\n"
        "  target: https://svc.example.com/tasks/{type}\n"
        "  secret: s3cret\n"
        "- name: rich\n"
        "  target:\n"
        "    url: https://svc.example.com/rich\n"
        "    deadline: 2m\n"
        "    headers: {X-Team: ops}\n"
        "- name: appengine\n"
        "  target: worker-service\n"
    )
    app.apply_queue_file(file)
    assert app.queue_settings("hooks").target == Target("https://svc.example.com/tasks/{type}")
    assert app.queue_settings("hooks").secret == "s3cret"
    rich = app.queue_settings("rich").target
    assert rich == Target("https://svc.example.com/rich", "POST", {"X-Team": "ops"}, 120.0)
    assert app.queue_settings("appengine").target is None


def test_queue_yaml_names_the_line_of_a_bad_target(app: Conveyor, tmp_path: Path) -> None:
    file = tmp_path / "queue.yaml"
    file.write_text(
        "queue:\n- name: hooks\n  target: {url: 'https://svc.example.com/', deadline: 1h}\n"
    )
    with pytest.raises(ConfigurationError, match=r"queue.yaml:3: target: .*at most 1800"):
        app.apply_queue_file(file)


def test_queue_yaml_target_outside_the_allow_list_applies_nothing(
    app: Conveyor, tmp_path: Path
) -> None:
    file = tmp_path / "queue.yaml"
    file.write_text(
        "queue:\n- name: ok\n  target: https://svc.example.com/\n"
        "- name: bad\n  target: https://evil.test/\n"
    )
    with pytest.raises(ConfigurationError, match=r"'https://evil\.test/' is refused"):
        app.apply_queue_file(file)
    assert app.queue_settings("ok").target is None


def test_the_api_sets_a_target_and_never_returns_the_secret(app: Conveyor) -> None:
    server = LiveServer(app, Tokens.parse(None)).start()
    try:
        client = server.client()
        body = {
            "target": {
                "url": "https://svc.example.com/t/{type}",
                "deadline": "45s",
                "headers": {"Authorization": "Bearer t0ken", "X-Team": "ops"},
            },
            "secret": "s3cret",
            "max_concurrent": 5,
        }
        response = client.patch(f"{API}/queues/hooks", json=body)
        assert response.status_code == 200, response.text
        settings = response.json()["settings"]
        assert settings["target"] == {
            "url": "https://svc.example.com/t/{type}",
            "method": "POST",
            "headers": {"Authorization": "(set)", "X-Team": "ops"},
            "deadline": 45.0,
        }
        assert "t0ken" not in response.text
        assert settings["secret"] == "set"
        assert settings["previous_secret"] is None
        assert "s3cret" not in response.text
        assert "s3cret" not in client.get(f"{API}/queues").text

        refused = client.patch(f"{API}/queues/other", json={"target": "https://evil.test/"})
        assert refused.status_code == 422
        assert "'https://evil.test/' is refused" in refused.json()["error"]["message"]
    finally:
        server.stop()


def test_the_cli_sets_a_target_shows_it_and_redacts_the_secret(
    app: Conveyor, store_url: str
) -> None:
    runner = CliRunner()
    common = ["--url", store_url, "--push-allow", ALLOW]
    result = runner.invoke(
        cli,
        [
            "queues", "set", "hooks", *common,
            "--target", "https://svc.example.com/t/{type}",
            "--deadline", "2m",
            "--target-header", "X-Team: ops",
            "--secret", "s3cret",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    settings = app.queue_settings("hooks")
    assert settings.target == Target(
        "https://svc.example.com/t/{type}", "POST", {"X-Team": "ops"}, 120.0
    )
    assert settings.secret == "s3cret"

    rotated = runner.invoke(
        cli, ["queues", "set", "hooks", *common, "--rotate-secret", "-"], input="n3w\n"
    )
    assert rotated.exit_code == 0, rotated.output
    assert app.queue_settings("hooks").secrets == ["n3w", "s3cret"]

    shown = runner.invoke(cli, ["queues", "show", "hooks", "--url", store_url])
    assert shown.exit_code == 0, shown.output
    assert "https://svc.example.com/t/{type}" in shown.output
    assert "s3cret" not in shown.output and "n3w" not in shown.output

    refused = runner.invoke(
        cli, ["queues", "set", "x", *common, "--target", "http://169.254.169.254/"]
    )
    assert refused.exit_code != 0
    assert "169.254.169.254" in refused.output and "refused" in refused.output


def test_workers_leave_push_queues_to_the_dispatcher(app: Conveyor) -> None:
    from conveyor.cli.commands.worker import build_worker
    from conveyor.worker.config import WorkerConfig

    app.queue("hooks", target="https://svc.example.com/")
    worker = build_worker(app, "default,hooks", WorkerConfig())
    assert worker.queues == ["default"]
