"""Logging in with the API's tokens, the session cookie, and CSRF on every action."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from conveyor import Conveyor
from tests.api.conftest import ADMIN, READER, TOKENS, WORKER, LiveServer, StartServer

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(response: httpx.Response) -> str:
    found = CSRF.search(response.text)
    assert found, f"no CSRF token in the page:\n{response.text[:500]}"
    return found.group(1)


def logged_in(server: LiveServer, token: str) -> tuple[httpx.Client, str]:
    """A client with a session for `token`, and that session's CSRF token."""
    client = server.client()
    form = client.get("/login")
    response = client.post("/login", data={"token": token, "csrf_token": csrf_of(form)})
    assert response.status_code == 303, response.text
    return client, csrf_of(client.get("/"))


def test_without_tokens_the_dashboard_is_open(start_server: StartServer) -> None:
    client = start_server().client()

    response = client.get("/")

    assert response.status_code == 200
    assert "Queues" in response.text
    assert client.get("/login").status_code == 303


def test_with_tokens_every_page_asks_for_a_login(start_server: StartServer) -> None:
    client = start_server(tokens=TOKENS).client()

    for path in ("/", "/tasks", "/dead-letters", "/queues/default", "/workers"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path


def test_login_sets_a_signed_http_only_cookie_without_the_token(
    start_server: StartServer,
) -> None:
    server = start_server(tokens=TOKENS)
    client = server.client()
    form = client.get("/login?next=/tasks")

    wrong = client.post("/login", data={"token": "nope", "csrf_token": csrf_of(form)})
    assert wrong.status_code == 401
    assert "that token is not configured here" in wrong.text

    response = client.post(
        "/login", data={"token": READER, "csrf_token": csrf_of(form), "next": "/tasks"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/tasks"
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert READER not in cookie
    assert client.get("/tasks").status_code == 200


def test_a_token_without_read_scope_cannot_log_in(start_server: StartServer) -> None:
    client = start_server(tokens=TOKENS).client()
    form = client.get("/login")

    response = client.post("/login", data={"token": WORKER, "csrf_token": csrf_of(form)})

    assert response.status_code == 403
    assert "lacks the &#39;read&#39; scope" in response.text


def test_an_altered_session_cookie_is_not_accepted(start_server: StartServer) -> None:
    server = start_server(tokens=TOKENS)
    client, _ = logged_in(server, ADMIN)
    value = client.cookies["conveyor_session"]
    data, _, signature = value.rpartition(".")
    forged = httpx.Client(base_url=server.url, cookies={"conveyor_session": f"{data}x.{signature}"})

    assert forged.get("/").status_code == 303
    forged.close()


def test_a_post_without_the_csrf_token_is_refused(start_server: StartServer, app: Conveyor) -> None:
    server = start_server(tokens=TOKENS)
    client, token = logged_in(server, ADMIN)

    missing = client.post("/queues/default/pause")
    wrong = client.post("/queues/default/pause", data={"csrf_token": token + "x"})

    assert missing.status_code == 403
    assert "CSRF" in missing.text
    assert wrong.status_code == 403
    assert not app.queue_info("default").paused

    accepted = client.post("/queues/default/pause", data={"csrf_token": token})
    assert accepted.status_code == 303
    assert app.queue_info("default").paused


def test_another_sessions_csrf_token_is_refused(start_server: StartServer, app: Conveyor) -> None:
    server = start_server(tokens=TOKENS)
    client, _ = logged_in(server, ADMIN)
    _, other_token = logged_in(server, ADMIN)

    response = client.post("/queues/default/pause", data={"csrf_token": other_token})

    assert response.status_code == 403
    assert not app.queue_info("default").paused


def test_the_read_scope_may_look_but_not_act(start_server: StartServer, app: Conveyor) -> None:
    server = start_server(tokens=TOKENS)
    client, token = logged_in(server, READER)

    assert "Pause" not in client.get("/queues/default").text
    response = client.post("/queues/default/pause", data={"csrf_token": token})

    assert response.status_code == 403
    assert "admin" in response.text
    assert not app.queue_info("default").paused


def test_logging_in_and_out_in_the_browser(
    start_server: StartServer, page: Page, artifacts: Path
) -> None:
    server = start_server(tokens=TOKENS)

    page.goto(server.url + "/tasks")
    expect(page.locator("main h1")).to_have_text("Log in")
    page.screenshot(path=artifacts / "login-light-laptop.png")
    page.get_by_label("token").fill(ADMIN)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(server.url + "/tasks")
    expect(page.locator("main h1")).to_have_text("Tasks")
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("main h1")).to_have_text("Log in")
    page.goto(server.url + "/")
    expect(page.locator("main h1")).to_have_text("Log in")


def test_secret_payload_fields_are_masked_on_every_page(
    start_server: StartServer, app: Conveyor
) -> None:
    app.queue("cards", secret_fields=["card"])
    task_id = app.enqueue("charge", queue="cards", kwargs={"card": "4111-1111-1111"}).id
    [claimed] = app.store.claim(["cards"], 1, "w", 30)
    app.fail(claimed.task.id, claimed.lease.token, "declined card 4111-1111-1111", retry=False)
    client = start_server().client()

    for path in [f"/tasks/{task_id}", "/tasks", "/queues/cards", "/dead-letters"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "4111-1111-1111" not in response.text, path
    assert "***" in client.get(f"/tasks/{task_id}").text
    assert app.get(task_id).kwargs == {"card": "4111-1111-1111"}
