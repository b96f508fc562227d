"""One error shape; bad input is a 4xx that names what is wrong and stores nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conveyor import Conveyor
from conveyor.api.defaults import DEFAULT_BODY_LIMIT
from tests.api.conftest import API, LiveServer, StartServer, error_of, lease, snapshot, submit

# -- malformed and oversized bodies -----------------------------------------------------


def test_malformed_json_is_400(client: httpx.Client, app: Conveyor) -> None:
    for body in [b"{", b'{"type": "x",}', b"not json", b"\xff\xfe", b'{"type": "x"} trailing']:
        error = error_of(client.post(f"{API}/tasks", content=body), 400)
        assert error["code"] == "malformed_json", body
    assert app.list_tasks().tasks == []


def test_malformed_json_is_400_on_every_body(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "x")
    [leased] = lease(client)
    before = snapshot(app)
    for path in [
        f"{API}/tasks/batch",
        f"{API}/queues/default/lease",
        f"{API}/queues/default/dead-letters/replay",
        f"{API}/queues/default/dead-letters/discard",
        f"{API}/tasks/{leased['task_id']}/heartbeat",
        f"{API}/tasks/{leased['task_id']}/complete",
        f"{API}/tasks/{leased['task_id']}/fail",
    ]:
        assert error_of(client.post(path, content=b"{oops"), 400)["code"] == "malformed_json"
    assert snapshot(app) == before


def test_json_is_read_whatever_the_content_type_says(client: httpx.Client) -> None:
    response = client.post(
        f"{API}/tasks", content=b'{"type": "x"}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 202, response.text


@pytest.fixture
def small(start_server: StartServer) -> LiveServer:
    return start_server(body_limit=1024)


def big_task(size: int) -> bytes:
    return json.dumps({"type": "x", "payload": {"blob": "y" * size}}).encode()


def test_a_body_over_the_limit_is_413(small: LiveServer, app: Conveyor) -> None:
    error = error_of(small.client().post(f"{API}/tasks", content=big_task(2000)), 413)
    assert error["code"] == "payload_too_large"
    assert "1024" in error["message"]
    assert app.list_tasks().tasks == []


def test_a_chunked_body_over_the_limit_is_413(small: LiveServer, app: Conveyor) -> None:
    body = big_task(5000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count
        for start in range(0, len(body), 256):
            yield body[start : start + 256]

    error = error_of(small.client().post(f"{API}/tasks", content=chunks()), 413)
    assert error["code"] == "payload_too_large"
    assert app.list_tasks().tasks == []


def test_a_body_at_the_limit_is_accepted(small: LiveServer) -> None:
    body = big_task(1024)
    body = big_task(1024 - (len(body) - 1024))
    assert len(body) == 1024
    assert small.client().post(f"{API}/tasks", content=body).status_code == 202


def test_the_default_limit_is_256_kib(client: httpx.Client, app: Conveyor) -> None:
    assert DEFAULT_BODY_LIMIT == 256 * 1024
    error_of(client.post(f"{API}/tasks", content=big_task(300 * 1024)), 413)
    assert app.list_tasks().tasks == []
    assert client.post(f"{API}/tasks", content=big_task(200 * 1024)).status_code == 202


def test_a_batch_over_the_limit_is_413_and_stores_nothing(small: LiveServer, app: Conveyor) -> None:
    body = json.dumps({"tasks": [{"type": "x", "payload": {"i": i}} for i in range(100)]})
    error_of(small.client().post(f"{API}/tasks/batch", content=body), 413)
    assert app.list_tasks().tasks == []


# -- schema violations ------------------------------------------------------------------


SCHEMA_VIOLATIONS: list[tuple[dict[str, Any], str]] = [
    ({"type": "x", "colour": "red"}, "colour"),
    ({"payload": {}}, "type"),
    ({"type": ""}, "type"),
    ({"type": 7}, "type"),
    ({"type": "x", "payload": [1, 2]}, "payload"),
    ({"type": "x", "args": {"a": 1}}, "args"),
    ({"type": "x", "priority": "urgent"}, "priority"),
    ({"type": "x", "queue": ""}, "queue"),
    ({"type": "x", "delay_seconds": -1}, "delay_seconds"),
    ({"type": "x", "scheduled_at": "tomorrow"}, "scheduled_at"),
    ({"type": "x", "max_attempts": 0}, "max_attempts"),
    ({"type": "x", "timeout_seconds": 0}, "timeout_seconds"),
    ({"type": "x", "idempotency_key": "k" * 256}, "idempotency_key"),
]


def test_a_schema_violation_is_422_naming_the_field(client: httpx.Client, app: Conveyor) -> None:
    for body, field in SCHEMA_VIOLATIONS:
        error = error_of(client.post(f"{API}/tasks", json=body), 422)
        assert error["code"] == "validation_error", body
        assert error["message"].startswith(f"{field}:"), (body, error["message"])
        assert [p["field"] for p in error["details"]] == [field], body
    assert app.list_tasks().tasks == []


def test_a_body_that_is_not_an_object_is_422(client: httpx.Client, app: Conveyor) -> None:
    for body in (b"[]", b'"x"', b"null", b"3"):
        error_of(client.post(f"{API}/tasks", content=body), 422)
    assert app.list_tasks().tasks == []


def test_an_unknown_field_in_a_batch_item_is_named(client: httpx.Client) -> None:
    response = client.post(
        f"{API}/tasks/batch", json={"tasks": [{"type": "a"}, {"type": "b", "kwargs": {}}]}
    )
    assert error_of(response, 422)["message"].startswith("tasks.1.kwargs:")


def test_payloads_that_are_not_json_values_are_422(client: httpx.Client, app: Conveyor) -> None:
    for body in [
        b'{"type": "x", "payload": {"a": NaN}}',
        b'{"type": "x", "payload": {"a": Infinity}}',
        b'{"type": "x", "args": [1e999]}',
    ]:
        error = error_of(client.post(f"{API}/tasks", content=body), 422)
        assert error["code"] == "invalid_payload", body
    assert app.list_tasks().tasks == []


# -- inputs that once reached the store: 4xx, never 500, never stored ------------------


ODD_REQUESTS: list[tuple[str, str, Any]] = [
    # Dates the backends cannot represent or read back.
    ("POST", "/tasks", {"type": "x", "scheduled_at": "0001-01-01T00:00:00+01:00"}),
    ("POST", "/tasks", {"type": "x", "scheduled_at": "0001-01-01T00:00:00Z"}),
    ("POST", "/tasks", {"type": "x", "scheduled_at": "9999-12-31T23:59:59-05:00"}),
    ("POST", "/tasks", {"type": "x", "scheduled_at": "1969-12-31T23:59:59Z"}),
    # NUL, which PostgreSQL text cannot hold.
    ("POST", "/tasks", {"type": "a\u0000b"}),
    ("POST", "/tasks", {"type": "x", "queue": "q\u0000"}),
    ("POST", "/tasks", {"type": "x", "idempotency_key": "k\u0000"}),
    ("POST", "/queues/default/lease", {"worker_id": "w\u0000"}),
    ("POST", "/queues/default/dead-letters/replay", {"task_ids": ["\u0000"]}),
    ("POST", "/queues/default/dead-letters/discard", {"task_ids": ["\u0000"]}),
    ("GET", "/tasks/a%00b", None),
    ("DELETE", "/tasks/a%00b", None),
    ("GET", "/queues/a%00b", None),
    ("POST", "/queues/a%00b/pause", None),
    ("GET", "/queues/a%00b/dead-letters", None),
    ("POST", "/queues/a%00b/lease", {}),
    ("GET", "/tasks?queue=a%00b", None),
    ("GET", "/tasks?type=a%00b", None),
    # Numbers past 64 bits.
    ("GET", "/tasks?cursor=99999999999999999999", None),
    ("GET", "/queues/default/dead-letters?cursor=99999999999999999999", None),
    ("POST", "/tasks/some-id/complete", {"token": "9" * 30}),
    ("POST", "/tasks/some-id/heartbeat", {"token": "9" * 30}),
    ("POST", "/tasks/some-id/fail", {"token": "9" * 30, "error": "x"}),
]

RAW_REQUESTS: list[tuple[str, str, bytes]] = [
    # Lone surrogates: valid JSON escapes, but not UTF-8 the store can encode.
    ("POST", "/tasks", b'{"type": "x", "payload": {"a": "\\ud800"}}'),
    ("POST", "/tasks", b'{"type": "x", "payload": {"\\udfff": 1}}'),
    ("POST", "/tasks", b'{"type": "x", "args": ["\\ud800"]}'),
    ("POST", "/tasks/batch", b'{"tasks": [{"type": "x"}, {"type": "y", "args": ["\\ud800"]}]}'),
    ("POST", "/tasks", b'{"type": "\\ud800"}'),
]


def test_odd_input_is_a_4xx_and_changes_nothing(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "existing")
    before = snapshot(app)
    for method, path, body in ODD_REQUESTS:
        response = client.request(method, API + path, json=body)
        assert 400 <= response.status_code < 500, (method, path, body, response.text)
        error_of(response, response.status_code)
    assert snapshot(app) == before


def test_lone_surrogates_are_a_422_and_change_nothing(client: httpx.Client, app: Conveyor) -> None:
    submit(client, "existing")
    before = snapshot(app)
    for method, path, body in RAW_REQUESTS:
        response = client.request(method, API + path, content=body)
        assert response.status_code == 422, (method, path, body, response.text)
        error_of(response, 422)
    assert snapshot(app) == before


def test_a_result_with_a_lone_surrogate_is_422_and_keeps_the_lease(
    client: httpx.Client, app: Conveyor
) -> None:
    submit(client, "x")
    [leased] = lease(client)
    before = snapshot(app)
    body = b'{"token": "%s", "result": "\\ud800"}' % leased["token"].encode()
    error_of(client.post(f"{API}/tasks/{leased['task_id']}/complete", content=body), 422)
    assert snapshot(app) == before
    done = client.post(f"{API}/tasks/{leased['task_id']}/complete", json={"token": leased["token"]})
    assert done.status_code == 200


# -- unknown routes and methods ---------------------------------------------------------


def test_unknown_routes_and_methods_use_the_error_shape(client: httpx.Client) -> None:
    assert error_of(client.get(f"{API}/nothing-here"), 404)["code"] == "not_found"
    assert error_of(client.put(f"{API}/tasks"), 405)["code"] == "method_not_allowed"


# -- operations -------------------------------------------------------------------------


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz(client: httpx.Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_docs_are_served(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/openapi.json" in response.text


def test_openapi_describes_every_endpoint(client: httpx.Client) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    operations = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert operations >= {
        ("POST", "/api/v1/tasks"),
        ("GET", "/api/v1/tasks"),
        ("POST", "/api/v1/tasks/batch"),
        ("GET", "/api/v1/tasks/{task_id}"),
        ("DELETE", "/api/v1/tasks/{task_id}"),
        ("GET", "/api/v1/queues"),
        ("GET", "/api/v1/queues/{name}"),
        ("POST", "/api/v1/queues/{name}/pause"),
        ("POST", "/api/v1/queues/{name}/resume"),
        ("GET", "/api/v1/queues/{name}/dead-letters"),
        ("POST", "/api/v1/queues/{name}/dead-letters/replay"),
        ("POST", "/api/v1/queues/{name}/dead-letters/discard"),
        ("POST", "/api/v1/queues/{name}/lease"),
        ("POST", "/api/v1/tasks/{task_id}/heartbeat"),
        ("POST", "/api/v1/tasks/{task_id}/complete"),
        ("POST", "/api/v1/tasks/{task_id}/fail"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    }
    error = spec["components"]["schemas"]["ErrorOut"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorBody")
    submit_responses = spec["paths"]["/api/v1/tasks"]["post"]["responses"]
    assert {"202", "400", "401", "403", "413", "422"} <= set(submit_responses)
