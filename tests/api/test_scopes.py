"""Scopes are enforced on every route: each /api route declares exactly one scope, and a
request without a token, or with a token lacking that scope, is refused before the
route runs. A route added without a scope fails here."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from conveyor import Conveyor
from conveyor.api import routes
from conveyor.api.app import create_api
from conveyor.api.auth import SCOPES, RequireScope, Tokens
from tests.api.conftest import ADMIN, API, ENQUEUER, READER, TOKENS, WORKER, LiveServer, error_of

OPEN = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""Routes any caller may reach: probes and the API's own description, nothing stored."""
METRICS = "/metrics"
"""Checks the read scope itself, so that `metrics_public` can open it to scrapers."""

TOKEN_OF = {"admin": ADMIN, "enqueue": ENQUEUER, "read": READER, "work": WORKER}


@pytest.fixture
def backend() -> str:
    return "sqlite"


def scopes_of(dependant: Dependant) -> list[str]:
    found = [d.call.scope for d in dependant.dependencies if isinstance(d.call, RequireScope)]
    for child in dependant.dependencies:
        found += scopes_of(child)
    return found


def api_routes(app: Conveyor) -> list[tuple[str, str, str]]:
    """(method, path, scope) of every /api route, read from the routers of
    `conveyor.api.routes`; checked against the application's own route table (its
    OpenAPI paths), so a route served from anywhere else fails the test."""
    found = []
    for info in pkgutil.iter_modules(routes.__path__):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        for route in module.router.routes:
            assert isinstance(route, APIRoute), route
            if not route.path.startswith("/api/"):
                assert route.path in OPEN | {METRICS}, f"{route.path} is not known to be open"
                continue
            scopes = scopes_of(route.dependant)
            assert len(scopes) == 1, f"{sorted(route.methods)} {route.path} has scopes {scopes}"
            found += [(method, route.path, scopes[0]) for method in sorted(route.methods)]
    spec = create_api(app, Tokens.parse(TOKENS)).openapi()["paths"]
    served = {(m.upper(), path) for path, ops in spec.items() for m in ops}
    assert {(m, p) for m, p, _ in found} == {(m, p) for m, p in served if p.startswith("/api/")}
    assert {p for _, p in served if not p.startswith("/api/")} <= OPEN | {METRICS}
    return found


def test_every_api_route_declares_one_scope(app: Conveyor) -> None:
    routes = api_routes(app)
    assert len(routes) >= 20
    for method, path, scope in routes:
        assert scope in SCOPES
        if method != "GET":
            assert scope != "read", f"{method} {path} changes state with the read scope"


def test_writes_need_more_than_read_and_reads_need_read(app: Conveyor) -> None:
    """The scope of each kind of route, so a weakened one shows in review."""
    for method, path, scope in api_routes(app):
        if path.endswith(("/lease", "/heartbeat", "/complete", "/fail")):
            assert scope == "work", path
        elif method == "GET":
            assert scope == "read", path
        elif path.startswith(f"{API}/tasks"):
            assert scope == "enqueue", path
        else:
            assert scope == "admin", (method, path)


def request_to(client: httpx.Client, method: str, path: str, token: str | None) -> Any:
    url = re.sub(r"\{[^}]+\}", "x", path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, url, headers=headers, json={})


def test_every_api_route_refuses_a_missing_or_wrong_token(
    start_server: object, app: Conveyor
) -> None:
    server: LiveServer = start_server(tokens=TOKENS)  # type: ignore[operator]
    client = server.client()
    for method, path, scope in api_routes(app):
        missing = request_to(client, method, path, None)
        assert error_of(missing, 401)["message"].startswith("missing bearer token"), path
        unknown = request_to(client, method, path, "not-a-token")
        assert error_of(unknown, 401)["message"] == "unknown bearer token", path
        for other, token in TOKEN_OF.items():
            if other not in (scope, "admin"):
                response = request_to(client, method, path, token)
                assert error_of(response, 403)["message"] == (
                    f"this token lacks the {scope!r} scope"
                ), (method, path, other)


def test_a_token_never_appears_in_an_error(start_server: object) -> None:
    server: LiveServer = start_server(tokens=TOKENS)  # type: ignore[operator]
    for presented in ("guess-" + ADMIN, READER):
        response = server.client(presented).post(f"{API}/tasks", json={"type": "t"})
        assert presented not in response.text
        assert READER not in response.text


def test_tokens_are_all_compared_without_an_early_exit() -> None:
    """Each configured token is compared even when the first one matches."""
    compared: list[bytes] = []

    class Recording(str):
        def encode(self, *args: Any, **kwargs: Any) -> bytes:
            compared.append(str(self).encode())
            return str(self).encode()

    tokens = Tokens({Recording("first"): frozenset({"read"}), Recording("second"): frozenset()})
    assert tokens.scopes_of("first") == {"read"}
    assert compared == [b"first", b"second"]
