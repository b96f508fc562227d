"""`PATCH /api/v1/queues/{name}` and the `settings` of every queue, over real HTTP to a live
uvicorn server, on both backends; the store is checked through the server's Conveyor."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conveyor import Conveyor, Priority
from conveyor.core.queue import QueueSettings
from tests.api.conftest import ADMIN, API, ENQUEUER, READER, WORKER, LiveServer, error_of, submit

SETTINGS = {
    "paused",
    "rate",
    "burst",
    "max_concurrent",
    "max_per_key",
    "max_attempts",
    "min_backoff",
    "max_backoff",
    "max_doublings",
    "age_limit",
    "lease_seconds",
    "completed_retention",
    "failed_retention",
    "priority",
    "secret_fields",
    "target",
    "secret",
    "previous_secret",
}
DEFAULTS: dict[str, Any] = {**dict.fromkeys(SETTINGS), "paused": False, "secret_fields": []}


def patch(client: httpx.Client, name: str, body: Any) -> httpx.Response:
    return client.patch(f"{API}/queues/{name}", json=body)


def settings_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()["settings"]
    return settings


def stored(app: Conveyor) -> dict[str, QueueSettings]:
    return {q.name: q for q in app.store.list_queues()}


def test_patch_sets_settings_spelled_as_people_write_them(
    client: httpx.Client, app: Conveyor
) -> None:
    submit(client, "send", queue="emails")
    response = patch(
        client,
        "emails",
        {
            "rate": "50/s",
            "burst": 10,
            "max_concurrent": 8,
            "max_per_key": 2,
            "max_attempts": 5,
            "min_backoff": "10s",
            "max_backoff": 300,
            "max_doublings": 3,
            "age_limit": "2h",
            "lease_seconds": 45.5,
            "completed_retention": "7d",
            "failed_retention": "30d",
            "priority": "high",
            "paused": True,
            "secret_fields": ["password", "card"],
        },
    )

    body = response.json()
    assert response.status_code == 200, response.text
    assert set(body) == {"name", "counts", "oldest_queued_age_seconds", "paused", "settings"}
    assert body["name"] == "emails"
    assert body["paused"] is True
    assert body["counts"]["queued"] == 1
    assert body["settings"] == {
        "paused": True,
        "rate": 50.0,
        "burst": 10,
        "max_concurrent": 8,
        "max_per_key": 2,
        "max_attempts": 5,
        "min_backoff": 10.0,
        "max_backoff": 300.0,
        "max_doublings": 3,
        "age_limit": 7200.0,
        "lease_seconds": 45.5,
        "completed_retention": 7 * 86400.0,
        "failed_retention": 30 * 86400.0,
        "priority": "high",
        "secret_fields": ["password", "card"],
        "target": None,
        "secret": None,
        "previous_secret": None,
    }
    assert app.queue_settings("emails") == QueueSettings(
        "emails",
        paused=True,
        rate=50.0,
        burst=10,
        max_concurrent=8,
        max_per_key=2,
        max_attempts=5,
        min_backoff=10.0,
        max_backoff=300.0,
        max_doublings=3,
        age_limit=7200.0,
        lease_seconds=45.5,
        completed_retention=7 * 86400.0,
        failed_retention=30 * 86400.0,
        priority=Priority.HIGH,
        secret_fields=("password", "card"),
    )
    assert client.get(f"{API}/queues/emails").json()["settings"] == body["settings"]


def test_patch_keeps_what_it_does_not_name_and_null_clears(
    client: httpx.Client, app: Conveyor
) -> None:
    app.queue("emails", rate="50/s", burst=10, priority="low", paused=True)

    settings = settings_of(
        patch(client, "emails", {"burst": None, "priority": None, "paused": None})
    )

    assert settings == {**DEFAULTS, "rate": 50.0}
    assert app.queue_settings("emails") == QueueSettings("emails", rate=50.0)


def test_an_empty_patch_changes_nothing(client: httpx.Client, app: Conveyor) -> None:
    assert settings_of(patch(client, "fresh", {})) == DEFAULTS
    assert stored(app) == {}


def test_every_queue_lists_its_settings(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "send", queue="plain")
    app.queue("limited", max_concurrent=3, rate="30/m")

    queues = {q["name"]: q for q in client.get(f"{API}/queues").json()["queues"]}

    assert queues["plain"]["settings"] == DEFAULTS
    assert queues["limited"]["settings"] == {**DEFAULTS, "max_concurrent": 3, "rate": 0.5}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rate": "5/x"}, "rate '5/x' must look like 5/s, 30/m, 100/h or 1/d"),
        ({"rate": 0}, "rate 0 must be above zero"),
        ({"age_limit": "soon"}, "duration 'soon' must look like 30s, 5m, 2h or 3d"),
        ({"burst": 0}, "burst must be a whole number >= 1"),
        ({"max_concurrent": -1}, "max_concurrent: Input should be greater than or equal to 0"),
        ({"max_attempts": 3_000_000_000}, "max_attempts: Input should be less than or equal to"),
        ({"burst": "ten"}, "burst: Input should be a valid integer"),
        ({"burst": True}, "burst: Input should be a valid integer"),
        ({"burst": 2.5}, "burst: Input should be a valid integer"),
        ({"paused": "yes"}, "paused: Input should be a valid boolean"),
        ({"priority": "urgent"}, "priority: Input should be 'high', 'normal' or 'low'"),
        ({"min_backoff": 60, "max_backoff": 10}, "max_backoff is below min_backoff"),
        ({"lease_seconds": 0}, "lease_seconds must be positive, not 0"),
    ],
)
def test_patch_refuses_bad_values_with_422_and_changes_nothing(
    client: httpx.Client, app: Conveyor, body: dict[str, Any], message: str
) -> None:
    app.queue("emails", rate="1/s")

    error = error_of(patch(client, "emails", body), 422)

    assert message in error["message"], error
    assert stored(app) == {"emails": QueueSettings("emails", rate=1.0)}


def test_patch_refuses_an_unknown_setting_by_name(client: httpx.Client, app: Conveyor) -> None:
    error = error_of(patch(client, "emails", {"rate": "5/s", "bucket_size": 10}), 422)

    assert error["code"] == "validation_error"
    assert error["message"].startswith("bucket_size:")
    assert [d["field"] for d in error["details"]] == ["bucket_size"]
    assert stored(app) == {}


@pytest.mark.parametrize("body", [[], "rate", None])
def test_patch_needs_a_json_object(client: httpx.Client, app: Conveyor, body: Any) -> None:
    error_of(patch(client, "emails", body), 422)
    assert stored(app) == {}


def test_patch_needs_the_admin_scope(secured: LiveServer, app: Conveyor) -> None:
    body = {"rate": "5/s"}

    assert patch(secured.client(), "emails", body).status_code == 401
    for token in (READER, ENQUEUER, WORKER):
        error = error_of(patch(secured.client(token), "emails", body), 403)
        assert "lacks the 'admin' scope" in error["message"]
    assert stored(app) == {}

    assert settings_of(patch(secured.client(ADMIN), "emails", body))["rate"] == 5.0
    assert app.queue_settings("emails") == QueueSettings("emails", rate=5.0)
