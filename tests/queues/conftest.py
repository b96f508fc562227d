"""Queue settings tests share the live API server fixtures of tests/api (a real uvicorn on a
loopback port) and its `app` fixture: a Conveyor on this test's store, on both backends."""

from __future__ import annotations

from tests.api.conftest import app, client, secured, server, start_server

__all__ = ["app", "client", "secured", "server", "start_server"]
