"""Schemathesis fuzzes the live server from its own OpenAPI spec.

Every operation gets a bounded number of generated requests, valid ones (positive) and
ones that break the schema (negative); no response may be a 5xx, with no tokens
configured and with an admin token. With tokens configured, valid requests aimed at real
tasks, sent without a token or with a read-only one, never succeed at changing anything:
the store is compared before and after. SQLite only: the point is the HTTP layer, and
it keeps the run short.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from conveyor import Conveyor
from tests.api.conftest import (
    ADMIN,
    API,
    ENQUEUER,
    READER,
    TOKENS,
    WORKER,
    LiveServer,
    StartServer,
    lease,
    settings_snapshot,
    snapshot,
)

EXAMPLES = 10
"""Fuzzed requests per operation, when hunting for server errors (the coverage phase adds
its own boundary cases, a few dozen per operation)."""
AUTH_EXAMPLES = 5
"""Per operation, valid requests only, when checking that the wrong token changes nothing."""
LONGEST_WAIT = 0.05
"""Generated lease requests may ask to wait 30 s; they wait at most this long."""


@pytest.fixture
def backend() -> str:
    """Fuzz on SQLite only (overrides the two-backend parametrisation)."""
    return "sqlite"


def seed(server: LiveServer, token: str | None = None) -> dict[str, str]:
    """A queued task, a running one and a dead letter; path values that reach them."""
    client = server.client(token)
    ids = {}
    for name in ("dead", "running", "queued"):
        response = client.post(f"{API}/tasks", json={"type": name, "payload": {"n": 1}})
        assert response.status_code == 202, response.text
        ids[name] = response.json()["task_id"]
    [dead] = lease(client)
    response = client.post(
        f"{API}/tasks/{dead['task_id']}/fail",
        json={"token": dead["token"], "error": "x", "retry": False},
    )
    assert response.status_code == 200, response.text
    [running] = lease(client)
    assert running["task_id"] == ids["running"]
    return ids


def fuzz_valid_requests(
    server: LiveServer,
    headers: dict[str, str],
    check: Callable[[Case[Any], Any], None],
    path_parameters: Callable[[str], dict[str, str]],
) -> int:
    """Send valid generated requests for every operation of the live spec, checking each
    response with `check`; the number of requests sent."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    calls = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        fixed = {
            k: v for k, v in path_parameters(operation.path).items() if f"{{{k}}}" in operation.path
        }

        @given(case=operation.as_strategy(path_parameters=fixed or None))
        @settings(
            max_examples=AUTH_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Case[Any]) -> None:
            nonlocal calls
            shorten_waits(case)
            response = case.call(base_url=server.url, headers=headers, timeout=30)
            calls += 1
            case.validate_response(response, checks=[not_a_server_error], headers=headers)
            check(case, response)

        run()
    return calls


def shorten_waits(case: Case[Any]) -> None:
    body = case.body
    if case.operation.path.endswith("/lease") and isinstance(body, dict):
        wait = body.get("wait_seconds")
        if isinstance(wait, int | float) and not isinstance(wait, bool) and wait > 0:
            body["wait_seconds"] = min(wait, LONGEST_WAIT)


@pytest.fixture
def open_server(start_server: StartServer) -> LiveServer:
    server = start_server()
    seed(server)
    return server


@pytest.fixture
def open_schema(open_server: LiveServer) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{open_server.url}/openapi.json")


@pytest.fixture
def secured_server(start_server: StartServer) -> LiveServer:
    server = start_server(tokens=TOKENS)
    seed(server, ADMIN)
    return server


@pytest.fixture
def secured_schema(secured_server: LiveServer) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{secured_server.url}/openapi.json")


# One test per run; schemathesis makes each operation a subtest and runs its phases:
# explicit examples, coverage (boundary and schema-breaking values) and fuzzing.
open_api = schemathesis.pytest.from_fixture("open_schema")
secured_api = schemathesis.pytest.from_fixture("secured_schema")
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@open_api.parametrize()
@FUZZ_SETTINGS
def test_fuzz_without_tokens_finds_no_server_error(
    case: Case[Any], open_server: LiveServer
) -> None:
    shorten_waits(case)
    case.call_and_validate(base_url=open_server.url, checks=[not_a_server_error], timeout=30)


@secured_api.parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_an_admin_token_finds_no_server_error(
    case: Case[Any], secured_server: LiveServer
) -> None:
    shorten_waits(case)
    case.call_and_validate(
        base_url=secured_server.url,
        headers={"Authorization": f"Bearer {ADMIN}"},
        checks=[not_a_server_error],
        timeout=30,
    )


def never_succeeds(case: Case[Any], response: Any) -> None:
    if case.operation.path.startswith(API):
        assert response.status_code >= 400, (case.method, case.formatted_path, response.text)


def only_reads_succeed(case: Case[Any], response: Any) -> None:
    if case.method.upper() != "GET":
        assert response.status_code >= 400, (case.method, case.formatted_path, response.text)


@pytest.mark.parametrize(
    ("token", "check"),
    [(None, never_succeeds), (READER, only_reads_succeed)],
    ids=["no-token", "read-token"],
)
def test_fuzz_without_the_right_scope_changes_nothing(
    start_server: StartServer,
    app: Conveyor,
    token: str | None,
    check: Callable[[Case[Any], Any], None],
) -> None:
    server = start_server(tokens=TOKENS)
    ids = seed(server, ADMIN)
    before = snapshot(app)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # Aim every request at a real queue and a task it could change, so a hole would show:
    # the running task for the reports of the pull protocol, the queued one otherwise.
    sent = fuzz_valid_requests(
        server,
        headers,
        check,
        path_parameters=lambda path: {"task_id": ids[target_of(path)], "name": "default"},
    )
    assert sent >= 18
    assert snapshot(app) == before


def target_of(path: str) -> str:
    return "running" if path.endswith(("/heartbeat", "/complete", "/fail")) else "queued"


PULL = ("/lease", "/heartbeat", "/complete", "/fail")


def only_enqueue_succeeds(case: Case[Any], response: Any) -> None:
    allowed = (case.method.upper(), case.operation.path) in {
        ("POST", f"{API}/tasks"),
        ("POST", f"{API}/tasks/batch"),
        ("DELETE", f"{API}/tasks/{{task_id}}"),
    }
    if case.operation.path.startswith(API) and not allowed:
        assert response.status_code >= 400, (case.method, case.formatted_path, response.text)


def only_pull_succeeds(case: Case[Any], response: Any) -> None:
    if case.operation.path.startswith(API) and not case.operation.path.endswith(PULL):
        assert response.status_code >= 400, (case.method, case.formatted_path, response.text)


@pytest.mark.parametrize(
    ("token", "check"),
    [(ENQUEUER, only_enqueue_succeeds), (WORKER, only_pull_succeeds)],
    ids=["enqueue-token", "work-token"],
)
def test_fuzz_with_a_narrow_token_changes_nothing_outside_its_scope(
    start_server: StartServer,
    app: Conveyor,
    token: str,
    check: Callable[[Case[Any], Any], None],
) -> None:
    """Tasks may change within the scope (submit, cancel; lease, report); queue settings,
    schedules and dead letters, which only admin may touch, stay as they were."""
    server = start_server(tokens=TOKENS)
    ids = seed(server, ADMIN)
    settings_before = settings_snapshot(app)
    sent = fuzz_valid_requests(
        server,
        {"Authorization": f"Bearer {token}"},
        check,
        path_parameters=lambda path: {"task_id": ids[target_of(path)], "name": "default"},
    )
    assert sent >= 18
    assert settings_snapshot(app) == settings_before
    dead = app.get(ids["dead"])
    assert (dead.status, dead.attempts) == ("failed", 1)
