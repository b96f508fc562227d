"""Secret payload fields: every reader of the API (admin included) sees "***" in their
place, in the payload and in any error or result quoting them; the worker that leases
the task gets the real values; the store keeps them, so a replay runs as the original."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conveyor import Conveyor
from conveyor.core.redaction import MASK, redact
from conveyor.core.task import Status
from tests.api.conftest import ADMIN, API, READER, WORKER, LiveServer, StartServer, lease, submit
from tests.factories import enqueued

SECRET = "hunter2-very-secret"
CARD = "4111-1111-1111-1111"


@pytest.fixture
def secured_with_secrets(start_server: StartServer, app: Conveyor) -> LiveServer:
    server = start_server(tokens=f"{ADMIN}:admin,{READER}:read,{WORKER}:work")
    response = server.client(ADMIN).patch(
        f"{API}/queues/default", json={"secret_fields": ["password", "card"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["secret_fields"] == ["password", "card"]
    return server


def test_secret_fields_are_masked_for_every_reader(
    secured_with_secrets: LiveServer, app: Conveyor
) -> None:
    admin = secured_with_secrets.client(ADMIN)
    accepted = submit(admin, "charge", payload={"password": SECRET, "card": CARD, "user": "bob"})
    task_id = accepted["task_id"]

    for token in (ADMIN, READER):
        client = secured_with_secrets.client(token)
        one = client.get(f"{API}/tasks/{task_id}")
        listed = client.get(f"{API}/tasks")
        for response in (one, listed):
            assert response.status_code == 200, response.text
            assert SECRET not in response.text and CARD not in response.text
        assert one.json()["payload"] == {"password": MASK, "card": MASK, "user": "bob"}
        assert listed.json()["tasks"][0]["payload"]["password"] == MASK

    assert app.get(task_id).kwargs["password"] == SECRET  # stored as given


def test_the_worker_gets_the_real_values_and_errors_quoting_them_are_masked(
    secured_with_secrets: LiveServer, app: Conveyor
) -> None:
    admin = secured_with_secrets.client(ADMIN)
    submit(admin, "charge", payload={"card": CARD}, max_attempts=1)
    [task] = lease(secured_with_secrets.client(WORKER))
    assert task["payload"] == {"card": CARD}

    fail = {"token": task["token"], "error": f"card {CARD} declined", "retry": False}
    response = secured_with_secrets.client(WORKER).post(
        f"{API}/tasks/{task['task_id']}/fail", json=fail
    )
    assert response.status_code == 200, response.text

    for path in (f"/tasks/{task['task_id']}", "/queues/default/dead-letters", "/tasks"):
        response = admin.get(f"{API}{path}")
        assert response.status_code == 200, response.text
        assert CARD not in response.text, path
    shown = admin.get(f"{API}/tasks/{task['task_id']}").json()
    assert shown["errors"][-1]["error"] == f"card {MASK} declined"
    assert app.get(task["task_id"]).status is Status.FAILED


def test_a_queue_without_secret_fields_shows_everything(server: LiveServer) -> None:
    client = server.client()
    accepted = submit(client, "charge", payload={"password": SECRET})
    assert client.get(f"{API}/tasks/{accepted['task_id']}").json()["payload"] == {
        "password": SECRET
    }


def test_secret_fields_must_be_a_list_of_keys(server: LiveServer) -> None:
    client = server.client()
    for bad in ("password", [""], [1], ["x"] * 101):
        response = client.patch(f"{API}/queues/default", json={"secret_fields": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["message"].startswith("secret_fields")


def test_redact_masks_values_in_nested_results_and_leaves_the_task_alone(app: Conveyor) -> None:
    task = enqueued(app.store, kwargs={"card": CARD, "n": 1})
    task = replace(task, result={"echo": [f"paid with {CARD}"]})
    shown = redact(task, ["card", "absent"])
    assert shown.kwargs == {"card": MASK, "n": 1}
    assert shown.result == {"echo": [f"paid with {MASK}"]}
    assert task.kwargs["card"] == CARD
    assert redact(task, []) is task
