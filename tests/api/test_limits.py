"""Every request is bounded: body size, batch size, page size, JSON nesting depth and
idempotency key length. Each refusal names the limit, and nothing is stored."""

from __future__ import annotations

import json

import httpx
import pytest

from conveyor import Conveyor
from conveyor.api.depth import BODY_DEPTH
from conveyor.core.payload import MAX_DEPTH, MAX_IDEMPOTENCY_KEY
from conveyor.errors import ConfigurationError, PayloadError
from tests.api.conftest import API, LiveServer, StartServer, error_of, lease, submit


@pytest.fixture
def backend() -> str:
    """The limits live in the HTTP layer; SQLite keeps the run short."""
    return "sqlite"


def nested(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = [value]
    return value


def stored(app: Conveyor) -> int:
    return len(app.list_tasks(limit=1000).tasks)


def test_a_body_over_the_size_limit_is_413(start_server: StartServer, app: Conveyor) -> None:
    server = start_server(body_limit=1024)
    body = json.dumps({"type": "t", "payload": {"x": "a" * 2000}})
    error = error_of(server.client().post(f"{API}/tasks", content=body), 413)
    assert "1024 bytes" in error["message"]
    assert stored(app) == 0


def test_a_batch_over_1000_tasks_is_refused(client: httpx.Client, app: Conveyor) -> None:
    body = {"tasks": [{"type": "t"}] * 1001}
    error = error_of(client.post(f"{API}/tasks/batch", json=body), 422)
    assert error["details"][0]["field"] == "tasks"
    assert "1000" in error["message"]
    assert stored(app) == 0


def test_a_page_over_1000_tasks_is_refused(client: httpx.Client) -> None:
    error = error_of(client.get(f"{API}/tasks", params={"limit": 1001}), 422)
    assert "1000" in error["message"]


def test_a_payload_at_the_depth_limit_is_accepted(client: httpx.Client, app: Conveyor) -> None:
    accepted = submit(client, payload={"deep": nested(MAX_DEPTH)}, args=[nested(MAX_DEPTH)])
    assert app.get(accepted["task_id"]).kwargs == {"deep": nested(MAX_DEPTH)}


@pytest.mark.parametrize("field", ["payload", "args"])
def test_a_payload_nested_past_the_limit_is_422_naming_it(
    client: httpx.Client, app: Conveyor, field: str
) -> None:
    value = {"deep": nested(MAX_DEPTH + 1)} if field == "payload" else [nested(MAX_DEPTH + 1)]
    error = error_of(client.post(f"{API}/tasks", json={"type": "t", field: value}), 422)
    assert error["message"].startswith(f"{field}:")
    assert f"the limit is {MAX_DEPTH}" in error["message"]
    assert stored(app) == 0


@pytest.mark.parametrize("levels", [BODY_DEPTH + 1, 100_000])
def test_a_body_too_deep_to_parse_is_422_naming_the_limit(
    client: httpx.Client, app: Conveyor, levels: int
) -> None:
    body = '{"type": "t", "payload": {"a": ' + "[" * levels + "]" * levels + "}}"
    error = error_of(client.post(f"{API}/tasks", content=body), 422)
    assert error["code"] == "too_deeply_nested"
    assert f"at most {MAX_DEPTH}" in error["message"]
    assert stored(app) == 0


def test_brackets_inside_strings_do_not_count(client: httpx.Client, app: Conveyor) -> None:
    text = "[{" * 200 + '\\"[['
    accepted = submit(client, payload={"text": text})
    assert app.get(accepted["task_id"]).kwargs == {"text": text}


def test_a_result_nested_past_the_limit_is_refused(client: httpx.Client, app: Conveyor) -> None:
    submit(client)
    [task] = lease(client)
    body = {"token": task["token"], "result": nested(MAX_DEPTH + 1)}
    error = error_of(client.post(f"{API}/tasks/{task['task_id']}/complete", json=body), 422)
    assert f"the limit is {MAX_DEPTH}" in error["message"]
    assert app.get(task["task_id"]).status == "running"


def test_an_idempotency_key_over_255_characters_is_refused(
    client: httpx.Client, app: Conveyor
) -> None:
    key = "k" * (MAX_IDEMPOTENCY_KEY + 1)
    error = error_of(client.post(f"{API}/tasks", json={"type": "t", "idempotency_key": key}), 422)
    assert error["details"][0]["field"] == "idempotency_key"
    assert "255" in error["message"]
    error = error_of(
        client.post(f"{API}/tasks", json={"type": "t"}, headers={"Idempotency-Key": key}), 422
    )
    assert "255" in error["message"]
    assert stored(app) == 0


def test_an_idempotency_key_of_255_characters_is_accepted(client: httpx.Client) -> None:
    key = "k" * MAX_IDEMPOTENCY_KEY
    first = submit(client, idempotency_key=key)
    assert submit(client, idempotency_key=key)["task_id"] == first["task_id"]


def test_limits_hold_on_a_live_server(server: LiveServer) -> None:
    """The depth guard sits in front of routing: a deep body to any API path is refused."""
    body = "[" * (BODY_DEPTH + 1) + "]" * (BODY_DEPTH + 1)
    response = server.client().post(f"{API}/queues/default/lease", content=body)
    assert error_of(response, 422)["code"] == "too_deeply_nested"


def test_the_python_client_refuses_what_http_refuses(app: Conveyor) -> None:
    with pytest.raises(ConfigurationError, match="the limit is 255"):
        app.enqueue("t", idempotency_key="k" * (MAX_IDEMPOTENCY_KEY + 1))
    with pytest.raises(PayloadError, match=f"the limit is {MAX_DEPTH}"):
        app.enqueue("t", [nested(MAX_DEPTH + 1)])
    with pytest.raises(PayloadError, match=f"the limit is {MAX_DEPTH}"):
        app.enqueue_many([{"name": "t", "kwargs": {"a": nested(MAX_DEPTH + 1)}}])
    assert stored(app) == 0
