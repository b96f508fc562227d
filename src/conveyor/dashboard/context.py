"""One request as the dashboard sees it: the Conveyor, the viewer, and how to answer.

Routes ask for `Reading` (a GET that needs the `read` scope) or `Acting` (a POST that
needs the `admin` scope and the session's CSRF token). Refusals are raised as `Refusal`
and rendered as an HTML page by the handler `mount` installs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment
from starlette.datastructures import FormData

from conveyor.app import Conveyor
from conveyor.dashboard import csrf
from conveyor.dashboard.auth.session import COOKIE, LIFETIME_SECONDS
from conveyor.dashboard.auth.viewer import Gatekeeper, Viewer
from conveyor.dashboard.recent import Recent
from conveyor.dashboard.views import Activity

SECURITY_HEADERS = {
    # Only our own script and style run: a payload that slipped through escaping
    # still could not execute.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Dashboard:
    conveyor: Conveyor
    gatekeeper: Gatekeeper
    env: Environment
    activity: Recent[Sequence[Activity]]


class Refusal(Exception):
    """A request the dashboard answers with an error page (or a redirect to log in)."""

    def __init__(self, status: int, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.location = status, message, location


@dataclass(frozen=True, slots=True)
class Seen:
    """A request that passed its checks, with what answering it needs."""

    dashboard: Dashboard
    viewer: Viewer
    request: Request
    form: FormData | None = None

    @property
    def app(self) -> Conveyor:
        return self.dashboard.conveyor

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        return render(self.dashboard, self.viewer, self.request, template, status, **context)

    def redirect(self, location: str) -> Response:
        return finish(RedirectResponse(location, status_code=303), self.viewer, self.request)


def render(
    dashboard: Dashboard,
    viewer: Viewer,
    request: Request,
    template: str,
    status: int = 200,
    **context: Any,
) -> Response:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = dashboard.env.get_template(template).render(
        viewer=viewer, csrf_token=viewer.session.csrf, path=path, **context
    )
    return finish(HTMLResponse(html, status_code=status), viewer, request)


def finish(response: Response, viewer: Viewer, request: Request) -> Response:
    """Add the security headers, and the session cookie when the session is new."""
    response.headers.update(SECURITY_HEADERS)
    if viewer.fresh:
        codec = dashboard_of(request).gatekeeper.codec
        response.set_cookie(
            COOKIE,
            codec.encode(viewer.session),
            max_age=LIFETIME_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


def dashboard_of(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


def viewer_of(request: Request) -> Viewer:
    return dashboard_of(request).gatekeeper.viewer(request.cookies.get(COOKIE))


def _reading(request: Request) -> Seen:
    viewer = viewer_of(request)
    if not viewer.can_read:
        if not viewer.logged_in:
            raise Refusal(401, "log in to see the dashboard", login_url(request))
        raise Refusal(403, "this token lacks the 'read' scope; log in with another token")
    return Seen(dashboard_of(request), viewer, request)


async def _acting(request: Request) -> Seen:
    viewer = viewer_of(request)
    form = await request.form()
    presented = form.get(csrf.FIELD) or request.headers.get(csrf.HEADER)
    if not csrf.valid(viewer.session.csrf, presented if isinstance(presented, str) else None):
        raise Refusal(
            403,
            "this form was not sent from this dashboard session (missing or stale CSRF "
            "token); reload the page and try again",
        )
    if not viewer.can_act:
        if not viewer.logged_in:
            raise Refusal(401, "log in to act on tasks and queues", login_url(request))
        raise Refusal(403, "this token lacks the 'admin' scope, which actions need")
    return Seen(dashboard_of(request), viewer, request, form)


async def _any_post(request: Request) -> Seen:
    """A POST that only needs the CSRF token (logging in and out)."""
    viewer = viewer_of(request)
    form = await request.form()
    presented = form.get(csrf.FIELD)
    if not csrf.valid(viewer.session.csrf, presented if isinstance(presented, str) else None):
        raise Refusal(
            403, "this form expired or was not sent from this dashboard; reload and try again"
        )
    return Seen(dashboard_of(request), viewer, request, form)


def login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(here, safe='')}" if request.method == "GET" else "/login"


Reading = Annotated[Seen, Depends(_reading)]
Acting = Annotated[Seen, Depends(_acting)]
Posting = Annotated[Seen, Depends(_any_post)]
Viewing = Annotated[Viewer, Depends(viewer_of)]
