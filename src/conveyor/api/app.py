"""create_api(conveyor) → the FastAPI application: lifespan, routers, one error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from conveyor.api import errors
from conveyor.api.announcer import Announcer
from conveyor.api.auth import Tokens
from conveyor.api.defaults import DEFAULT_BODY_LIMIT
from conveyor.api.depth import JsonDepth
from conveyor.api.routes import dlq, metrics, ops, pull, queues, schedules, tasks, workflows
from conveyor.api.schemas import ErrorOut
from conveyor.app import Conveyor
from conveyor.dashboard import mount as mount_dashboard
from conveyor.metrics import metrics_registry


def create_api(
    conveyor: Conveyor,
    tokens: Tokens | None = None,
    body_limit: int = DEFAULT_BODY_LIMIT,
    *,
    metrics_public: bool = False,
    session_secret: bytes | None = None,
) -> FastAPI:
    """The HTTP service over one Conveyor; the caller owns the Conveyor's lifetime.

    `/metrics` asks for the `read` scope when tokens are configured, unless
    `metrics_public` opens it to scrapers without credentials. The dashboard is served at
    `/`; `session_secret` signs its session cookies (default: CONVEYOR_SESSION_SECRET,
    else random per process).
    """

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        announcer = Announcer(conveyor)
        api.state.announcer = announcer
        announcer.start()
        try:
            yield
        finally:
            await announcer.stop()

    api = FastAPI(
        title="Conveyor",
        version="1",
        summary="A durable task queue: submit, inspect and work tasks over HTTP.",
        lifespan=lifespan,
        responses={
            400: {"model": ErrorOut},
            401: {"model": ErrorOut},
            403: {"model": ErrorOut},
            413: {"model": ErrorOut},
            422: {"model": ErrorOut},
        },
    )
    api.state.conveyor = conveyor
    api.state.tokens = tokens or Tokens({})
    api.state.metrics = metrics_registry(conveyor)
    api.state.metrics_public = metrics_public
    errors.install(api)
    for module in (tasks, workflows, queues, dlq, pull, schedules, ops, metrics):
        api.include_router(module.router)
    mount_dashboard(api, conveyor, api.state.tokens.scopes_by_token, session_secret)
    api.add_middleware(JsonDepth)
    api.add_middleware(errors.JsonBodies)
    api.add_middleware(errors.BodyLimit, limit=body_limit)
    return api
