"""Logging in with an API token, and out again. Without tokens there is nothing to do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from conveyor.dashboard.auth.session import Session
from conveyor.dashboard.auth.viewer import Viewer
from conveyor.dashboard.context import Posting, Seen, Viewing, dashboard_of, render

router = APIRouter(include_in_schema=False)


@router.get("/login")
def login_form(
    request: Request, viewer: Viewing, next: Annotated[str, Query(max_length=2000)] = "/"
) -> Response:
    if viewer.open:
        return Seen(dashboard_of(request), viewer, request).redirect(_local(next))
    return render(dashboard_of(request), viewer, request, "login.html", next=_local(next))


@router.post("/login")
def login(seen: Posting) -> Response:
    assert seen.form is not None
    token = str(seen.form.get("token") or "").strip()
    target = _local(str(seen.form.get("next") or "/"))
    gatekeeper = seen.dashboard.gatekeeper
    scopes = gatekeeper.scopes_of_token(token) if token else None
    if scopes is None:
        message = "enter an API token" if not token else "that token is not configured here"
        return seen.page("login.html", status=401, next=target, error=message)
    if not scopes & {"read", "admin"}:
        return seen.page(
            "login.html",
            status=403,
            next=target,
            error="that token lacks the 'read' scope the dashboard needs",
        )
    # A new session, with a new CSRF token: nothing from before the login carries over.
    session = Session.new(gatekeeper.codec.fingerprint(token))
    viewer = Viewer(session, scopes, fresh=True, open=False)
    return Seen(seen.dashboard, viewer, seen.request).redirect(target)


@router.post("/logout")
def logout(seen: Posting) -> Response:
    viewer = Viewer(Session.new(), frozenset(), fresh=True, open=seen.viewer.open)
    return Seen(seen.dashboard, viewer, seen.request).redirect("/login")


def _local(target: str) -> str:
    """Only paths on this server: `next` must not send the browser elsewhere.

    >>> _local("/tasks?state=failed"), _local("//evil.example"), _local("https://x")
    ('/tasks?state=failed', '/', '/')
    """
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
