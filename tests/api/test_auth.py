"""Bearer tokens with scopes, and the refusal to listen beyond loopback without them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conveyor import Conveyor
from conveyor.api.auth import Tokens
from conveyor.cli.serving import check_exposure
from conveyor.core.task import Status
from conveyor.errors import ConfigurationError
from tests.api.conftest import (
    ADMIN,
    API,
    ENQUEUER,
    READER,
    WORKER,
    LiveServer,
    error_of,
    lease,
    snapshot,
)

TOKEN_OF = {"enqueue": ENQUEUER, "read": READER, "work": WORKER, "admin": ADMIN}


def prepare(secured: LiveServer) -> dict[str, str]:
    """With the admin token: a dead letter, three running tasks (one per report) and a
    queued task; their ids, and the running tasks' tokens under `<name>_token`."""
    admin = secured.client(ADMIN)
    ids = {}
    for name in ("dead", "heartbeat", "complete", "fail", "queued"):
        response = admin.post(f"{API}/tasks", json={"type": name})
        assert response.status_code == 202, response.text
        ids[name] = response.json()["task_id"]
    [dead] = lease(admin)
    failed = admin.post(
        f"{API}/tasks/{dead['task_id']}/fail",
        json={"token": dead["token"], "error": "x", "retry": False},
    )
    assert failed.json()["status"] == "failed"
    for name in ("heartbeat", "complete", "fail"):
        [running] = lease(admin)
        assert running["task_id"] == ids[name]
        ids[f"{name}_token"] = running["token"]
    return ids


def requests_of(ids: dict[str, str]) -> list[tuple[str, str, str, Any]]:
    """(scope, method, path, json body) for every protected endpoint."""
    reports = [
        (
            "work",
            "POST",
            f"{API}/tasks/{ids[action]}/{action}",
            {"token": ids[f"{action}_token"], "error": "x"}
            if action == "fail"
            else {"token": ids[f"{action}_token"]},
        )
        for action in ("heartbeat", "complete", "fail")
    ]
    return [
        ("enqueue", "POST", f"{API}/tasks", {"type": "new"}),
        ("enqueue", "POST", f"{API}/tasks/batch", {"tasks": [{"type": "new"}]}),
        ("enqueue", "DELETE", f"{API}/tasks/{ids['queued']}", None),
        ("read", "GET", f"{API}/tasks", None),
        ("read", "GET", f"{API}/tasks/{ids['queued']}", None),
        ("read", "GET", f"{API}/queues", None),
        ("read", "GET", f"{API}/queues/default", None),
        ("read", "GET", f"{API}/queues/default/dead-letters", None),
        ("admin", "POST", f"{API}/queues/default/pause", None),
        ("admin", "POST", f"{API}/queues/default/resume", None),
        ("admin", "POST", f"{API}/queues/default/dead-letters/replay", {"all": True}),
        ("admin", "POST", f"{API}/queues/default/dead-letters/discard", {"all": True}),
        ("work", "POST", f"{API}/queues/default/lease", {"max": 5}),
        *reports,
    ]


def call(client: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    if body is None:
        return client.request(method, path)
    return client.request(method, path, json=body)


# -- 401 --------------------------------------------------------------------------------


BAD_AUTHORIZATIONS = [
    None,
    "",
    "Bearer",
    "Bearer nope",
    "bearer nope",
    f"Basic {ADMIN}",
    f"Token {ADMIN}",
    ADMIN,
]


def test_no_token_or_an_unknown_one_is_401_everywhere_and_changes_nothing(
    secured: LiveServer, app: Conveyor
) -> None:
    ids = prepare(secured)
    before = snapshot(app)
    for authorization in BAD_AUTHORIZATIONS:
        headers = {} if authorization is None else {"Authorization": authorization}
        client = secured.client(headers=headers)
        for _, method, path, body in requests_of(ids):
            error = error_of(call(client, method, path, body), 401)
            assert error["code"] == "unauthorized", (authorization, method, path)
    assert snapshot(app) == before


def test_401_asks_for_a_bearer_token(secured: LiveServer) -> None:
    response = secured.client().get(f"{API}/tasks")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "bearer" in response.json()["error"]["message"].lower()


def test_a_token_is_not_taken_from_a_prefix(secured: LiveServer) -> None:
    client = secured.client(ADMIN[:-1])
    error_of(client.get(f"{API}/tasks"), 401)
    client = secured.client(ADMIN + "x")
    error_of(client.get(f"{API}/tasks"), 401)


# -- 403 --------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["enqueue", "read", "work"])
def test_a_token_without_the_scope_is_403_and_changes_nothing(
    secured: LiveServer, app: Conveyor, scope: str
) -> None:
    ids = prepare(secured)
    before = snapshot(app)
    client = secured.client(TOKEN_OF[scope])
    forbidden = [r for r in requests_of(ids) if r[0] != scope]
    assert forbidden
    for needed, method, path, body in forbidden:
        error = error_of(call(client, method, path, body), 403)
        assert error["code"] == "forbidden"
        assert needed in error["message"]
    assert snapshot(app) == before


@pytest.mark.parametrize("scope", ["enqueue", "read", "work"])
def test_a_token_with_the_scope_gets_through(
    secured: LiveServer, app: Conveyor, scope: str
) -> None:
    ids = prepare(secured)
    client = secured.client(TOKEN_OF[scope])
    for needed, method, path, body in requests_of(ids):
        if needed == scope:
            response = call(client, method, path, body)
            assert response.status_code < 300, (method, path, response.text)


def test_admin_can_do_everything(secured: LiveServer, app: Conveyor) -> None:
    ids = prepare(secured)
    client = secured.client(ADMIN)
    for _, method, path, body in requests_of(ids):
        response = call(client, method, path, body)
        assert response.status_code < 300, (method, path, response.text)
    assert app.get(ids["queued"]).status is Status.CANCELLED
    assert app.get(ids["complete"]).status is Status.COMPLETED


def test_several_scopes_on_one_token(start_server: Any, app: Conveyor) -> None:
    server: LiveServer = start_server(tokens="producer:enqueue+read")
    client = server.client("producer")
    accepted = client.post(f"{API}/tasks", json={"type": "x"})
    assert accepted.status_code == 202
    assert client.get(f"{API}/tasks/{accepted.json()['task_id']}").status_code == 200
    error_of(client.post(f"{API}/queues/default/lease", json={}), 403)
    error_of(client.post(f"{API}/queues/default/pause"), 403)
    assert app.get(accepted.json()["task_id"]).status is Status.QUEUED


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs"])
def test_health_and_docs_need_no_token(secured: LiveServer, path: str) -> None:
    assert secured.client().get(path).status_code == 200


def test_without_tokens_configured_every_request_is_allowed(client: httpx.Client) -> None:
    assert client.post(f"{API}/queues/default/pause").status_code == 200
    assert client.post(f"{API}/tasks", json={"type": "x"}).status_code == 202


# -- parsing tokens ---------------------------------------------------------------------


def test_tokens_parse_scopes() -> None:
    tokens = Tokens.parse(" a:admin , b:read+enqueue,c:work ")
    assert tokens.scopes_by_token == {
        "a": frozenset({"admin"}),
        "b": frozenset({"read", "enqueue"}),
        "c": frozenset({"work"}),
    }
    assert tokens.enabled
    assert not Tokens.parse(None).enabled
    assert not Tokens.parse("").enabled


def test_a_token_may_contain_colons() -> None:
    assert Tokens.parse("abc:def:read").scopes_by_token == {"abc:def": frozenset({"read"})}


@pytest.mark.parametrize("text", ["s3cretvalue:root", "s3cretvalue", ":admin", "s3cretvalue:"])
def test_bad_token_entries_are_refused_without_echoing_the_secret(text: str) -> None:
    with pytest.raises(ConfigurationError, match="TOKEN:SCOPE") as raised:
        Tokens.parse(text)
    assert "s3cretvalue" not in str(raised.value)


# -- exposure ---------------------------------------------------------------------------

LOOPBACK = ["127.0.0.1", "127.0.0.2", "localhost", "::1"]
EXPOSED = ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "example.com"]


@pytest.mark.parametrize("host", EXPOSED)
def test_check_exposure_refuses_other_hosts_without_tokens(host: str) -> None:
    with pytest.raises(ConfigurationError, match="CONVEYOR_API_TOKENS"):
        check_exposure(host, Tokens.parse(None), allow_unauthenticated=False)


@pytest.mark.parametrize("host", EXPOSED)
def test_check_exposure_allows_other_hosts_with_tokens_or_the_flag(host: str) -> None:
    check_exposure(host, Tokens.parse("t:admin"), allow_unauthenticated=False)
    check_exposure(host, Tokens.parse(None), allow_unauthenticated=True)


@pytest.mark.parametrize("host", LOOPBACK)
def test_check_exposure_allows_loopback_without_tokens(host: str) -> None:
    check_exposure(host, Tokens.parse(None), allow_unauthenticated=False)
