"""The web dashboard: server-rendered pages over the client, with htmx for live updates.

`mount(api, conveyor, tokens, secret)` adds the pages at `/` and the static files at
`/static` to a FastAPI application. The dashboard reads and acts only through the
`Conveyor` client, and takes the API's tokens as a plain mapping of token to scopes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from conveyor.app import Conveyor
from conveyor.dashboard.auth.session import SessionCodec, session_secret
from conveyor.dashboard.auth.viewer import Gatekeeper
from conveyor.dashboard.context import Dashboard, Refusal, finish, render, viewer_of
from conveyor.dashboard.recent import Recent
from conveyor.dashboard.routes import actions, login, pages
from conveyor.dashboard.templating import environment
from conveyor.dashboard.views import BUCKET_SECONDS, WINDOW_SECONDS, Activity

__all__ = ["mount"]


def mount(
    api: FastAPI,
    conveyor: Conveyor,
    tokens: Mapping[str, frozenset[str]],
    secret: bytes | None = None,
) -> None:
    """Serve the dashboard from `api`; `secret` signs session cookies (see session.py)."""
    codec = SessionCodec(secret or session_secret())
    activity: Recent[Sequence[Activity]] = Recent(
        lambda: conveyor.activity(WINDOW_SECONDS, BUCKET_SECONDS)
    )
    api.state.dashboard = Dashboard(conveyor, Gatekeeper(codec, tokens), environment(), activity)
    for module in (pages, actions, login):
        api.include_router(module.router)
    static = StaticFiles(directory=str(files("conveyor.dashboard") / "static"))
    api.mount("/static", static, name="dashboard-static")
    api.add_exception_handler(Refusal, _refused)  # type: ignore[arg-type]


async def _refused(request: Request, exc: Refusal) -> Response:
    viewer = viewer_of(request)
    if exc.location is not None:
        return finish(
            Response(status_code=303, headers={"Location": exc.location}), viewer, request
        )
    dashboard: Dashboard = request.app.state.dashboard
    return render(
        dashboard,
        viewer,
        request,
        "error.html",
        exc.status,
        message=exc.message,
        status_code=exc.status,
    )
