"""Pages over an in-process server: what they show for states that take long to reach
with real processes (a dead worker), and errors shown as pages."""

from __future__ import annotations

import re
import time

from conveyor import Conveyor
from conveyor.core.workers import NewWorker
from tests.api.conftest import StartServer


def worker(name: str) -> NewWorker:
    return NewWorker(
        id=f"host-{name}:1:{name}",
        host=f"host-{name}",
        pid=4242,
        queues=("default", "mail"),
        concurrency=8,
        heartbeat_seconds=1.0,
    )


def test_a_worker_that_stopped_beating_is_marked_dead(
    app: Conveyor, start_server: StartServer
) -> None:
    app.store.register_worker(worker("gone"), now=time.time() - 3600)
    app.store.register_worker(worker("here"))
    client = start_server().client()

    page = client.get("/workers").text

    assert 'class="worker-dead" data-worker="host-gone:1:gone"' in page
    assert 'class="worker-alive" data-worker="host-here:1:here"' in page
    assert "default</a>, <a" in page


def test_an_unknown_task_is_a_404_page_naming_it(app: Conveyor, start_server: StartServer) -> None:
    response = start_server().client().get("/tasks/no-such-task")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "no task has id &#39;no-such-task&#39;" in response.text


def test_an_unknown_state_in_the_task_list_is_explained(
    app: Conveyor, start_server: StartServer
) -> None:
    response = start_server().client().get("/tasks?state=lost")

    assert response.status_code == 422
    assert "status &#39;lost&#39; is not one of" in response.text


def test_every_page_sends_a_content_security_policy(
    app: Conveyor, start_server: StartServer
) -> None:
    client = start_server().client()

    for path in ("/", "/tasks", "/dead-letters", "/schedules", "/workers", "/queues/default"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["x-frame-options"] == "DENY", path


def test_the_task_list_pages_back_through_every_task(
    app: Conveyor, start_server: StartServer
) -> None:
    app.enqueue_many([{"name": "job", "args": [i]} for i in range(60)])
    client = start_server().client()

    first = client.get("/tasks?queue=default").text
    older = re.search(r'href="(/tasks\?[^"]*cursor=\d+)"', first)
    assert older, "the first page links to older tasks"
    second = client.get(older.group(1).replace("&amp;", "&")).text

    shown = re.findall(r'href="/tasks/([0-9a-f-]+)"', first + second)
    assert len(shown) == 60
    assert len(set(shown)) == 60
    assert "Older tasks" not in second
