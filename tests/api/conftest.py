"""A real API server per test: uvicorn on a free loopback port, in a thread of its own.

Tests talk to it with `httpx.Client` over real HTTP, on both backends through the
`store_url` fixture, and look at the store through the same `Conveyor` the server wraps
when they need to check what was (or was not) stored.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from conveyor import Conveyor
from conveyor.api.app import create_api
from conveyor.api.auth import Tokens
from conveyor.api.defaults import DEFAULT_BODY_LIMIT

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
API = "/api/v1"

ADMIN = "admin-secret"
ENQUEUER = "enqueue-secret"
READER = "read-secret"
WORKER = "work-secret"
TOKENS = f"{ADMIN}:admin,{ENQUEUER}:enqueue,{READER}:read,{WORKER}:work"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """The API of `app` served by uvicorn on 127.0.0.1, until `stop()`."""

    app: Conveyor
    tokens: Tokens
    body_limit: int = DEFAULT_BODY_LIMIT
    url: str = ""
    api: FastAPI | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _clients: list[httpx.Client] = field(default_factory=list)

    def start(self) -> LiveServer:
        self.api = api = create_api(self.app, self.tokens, self.body_limit)
        config = uvicorn.Config(
            api, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="api-server", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise AssertionError("the API server stopped before it started listening")
            if time.monotonic() >= deadline:
                raise AssertionError(f"the API server did not start within {START_TIMEOUT}s")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def waiters(self, queue: str) -> int:
        """How many lease requests wait on `queue` right now (the announcer's count)."""
        assert self.api is not None
        waiting: int = self.api.state.announcer._waiting[queue]
        return waiting

    def client(
        self, token: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Client:
        """A client of this server, sending `token` as a bearer token if given."""
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers={**sent, **(headers or {})}, timeout=30)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(STOP_TIMEOUT)
            raise AssertionError(f"the API server did not stop within {STOP_TIMEOUT}s")


StartServer = Callable[..., LiveServer]


@pytest.fixture
def app(store_url: str) -> Iterator[Conveyor]:
    """The Conveyor the server wraps; tests use it to look at the store directly."""
    conveyor = Conveyor(store_url)
    yield conveyor
    conveyor.close()


@pytest.fixture
def start_server(app: Conveyor) -> Iterator[StartServer]:
    """Start servers over `app`: `start_server(tokens="t:admin", body_limit=1024)`."""
    servers: list[LiveServer] = []

    def start(tokens: str | None = None, body_limit: int = DEFAULT_BODY_LIMIT) -> LiveServer:
        server = LiveServer(app, Tokens.parse(tokens), body_limit)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server: StartServer) -> LiveServer:
    """A server with no tokens configured: loopback only, every request allowed."""
    return start_server()


@pytest.fixture
def client(server: LiveServer) -> httpx.Client:
    return server.client()


@pytest.fixture
def secured(start_server: StartServer) -> LiveServer:
    """A server with one token per scope (see TOKENS)."""
    return start_server(tokens=TOKENS)


def submit(client: httpx.Client, type: str = "work", **fields: Any) -> dict[str, Any]:
    """POST one task and return the accepted body, checking the 202."""
    response = client.post(f"{API}/tasks", json={"type": type, **fields})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def lease(client: httpx.Client, queue: str = "default", **fields: Any) -> list[dict[str, Any]]:
    """Lease from `queue` without waiting unless told, checking the 200."""
    response = client.post(f"{API}/queues/{queue}/lease", json={"wait_seconds": 0, **fields})
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()["tasks"]
    return tasks


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The `error` object of an error response, after checking its status and shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    error: dict[str, Any] = body["error"]
    return error


def snapshot(app: Conveyor) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """Every stored task (every field that can change) and every queue's settings."""
    tasks: list[tuple[Any, ...]] = []
    cursor = None
    while True:
        page = app.list_tasks(limit=1000, cursor=cursor)
        tasks.extend(
            (
                t.id,
                t.status,
                t.queue,
                t.attempts,
                t.run_at,
                t.result,
                len(t.errors),
                t.lease_expires_at,
                t.finished_at,
            )
            for t in page.tasks
        )
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return sorted(tasks, key=lambda t: t[0]), settings_snapshot(app)


def settings_snapshot(app: Conveyor) -> list[Any]:
    """Every queue's settings and every stored schedule: what only `admin` may change."""
    return [*app.store.list_queues(), *app.store.list_schedules()]
