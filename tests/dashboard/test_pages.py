"""The dashboard in a real browser against a real `conveyor dev`: what it shows after
tasks run, and that its buttons act on the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from conveyor import Conveyor, chord, group
from tests.apps import sink as sink_app
from tests.apps.sink import SinkFile
from tests.dashboard.conftest import LAPTOP, PHONE, DevServer
from tests.waiting import wait_until

# One browser test runs on both backends; the rest on SQLite, to keep the suite fast.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
XSS = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"


def card(page: Page, queue: str, state: str) -> str:
    return f'section[data-queue="{queue}"] dd[data-count="{state}"]'


def test_the_overview_shows_real_counts_after_tasks_run(
    dev: DevServer, page: Page, backend: str
) -> None:
    done = [dev.submit("run", payload={"key": f"k{i}"}) for i in range(3)]
    dead = dev.submit("explode", payload={"key": "x"}, max_attempts=1)
    wait_until(lambda: all(dev.status(t) == "completed" for t in done), message="3 completed")
    wait_until(lambda: dev.status(dead) == "failed", message="the explode task to fail")

    page.goto(dev.url + "/")

    expect(page.locator(card(page, "default", "completed"))).to_have_text("3")
    expect(page.locator(card(page, "default", "failed"))).to_have_text("1")
    expect(page.locator(card(page, "default", "queued"))).to_have_text("0")
    expect(page.locator('section[data-queue="default"] .metrics')).to_contain_text("25.0%")


@SQLITE_ONLY
def test_the_overview_updates_live_without_a_reload(dev: DevServer, page: Page) -> None:
    page.goto(dev.url + "/")
    expect(page.locator("h1")).to_have_text("Queues")

    dev.submit("run", payload={"key": "live"})

    # htmx polls the page; no navigation happens in between.
    expect(page.locator(card(page, "default", "completed"))).to_have_text("1")


@SQLITE_ONLY
def test_a_dead_task_is_replayed_by_clicking_and_then_completes(
    dev: DevServer, page: Page, sink: SinkFile
) -> None:
    gate = sink.gate("flaky")
    task_id = dev.submit("flaky", payload={"key": "f", "gate": gate})
    wait_until(lambda: dev.status(task_id) == "failed", message="the flaky task to fail")
    sink.open(gate)

    page.goto(dev.url + "/dead-letters")
    page.get_by_label(f"select {task_id}").check()
    page.get_by_role("button", name="Replay selected").click()
    expect(page.locator("h1")).to_have_text("Replay 1 dead letter?")
    page.get_by_role("button", name="Confirm replay").click()

    expect(page.get_by_role("status")).to_have_text("1 task replayed.")
    wait_until(lambda: dev.status(task_id) == "completed", message="the replayed task to run")
    assert sink.runs("f") and len(sink.runs("f")) == 2


@SQLITE_ONLY
def test_discarding_asks_first_and_then_deletes(dev: DevServer, page: Page) -> None:
    task_id = dev.submit("explode", payload={"key": "gone"}, max_attempts=1)
    wait_until(lambda: dev.status(task_id) == "failed", message="the task to fail")

    page.goto(dev.url + "/dead-letters")
    page.get_by_label(f"select {task_id}").check()
    page.get_by_role("button", name="Discard selected").click()
    assert dev.status(task_id) == "failed", "discarding must wait for the confirmation"
    page.get_by_role("button", name="Confirm discard").click()

    expect(page.get_by_role("status")).to_have_text("1 task discarded.")
    assert dev.api().get(f"/api/v1/tasks/{task_id}").status_code == 404


@SQLITE_ONLY
def test_a_queue_paused_from_its_page_stops_being_claimed(dev: DevServer, page: Page) -> None:
    page.goto(dev.url + "/queues/default")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".title-row .badge.paused")).to_have_text("paused")

    held = dev.submit("run", payload={"key": "held"})
    # The worker claims both of its queues in one statement, oldest first: once a task
    # enqueued later on the other queue has run, the held one was passed over.
    other = dev.submit("elsewhere", payload={"key": "other"})
    wait_until(lambda: dev.status(other) == "completed", message="the other queue's task")
    assert dev.status(held) == "queued"

    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".title-row .badge.paused")).to_have_count(0)
    wait_until(lambda: dev.status(held) == "completed", message="the held task after resume")


@SQLITE_ONLY
def test_a_payload_with_markup_is_shown_as_text_and_never_runs(dev: DevServer, page: Page) -> None:
    task_id = dev.submit("explode", payload={"key": XSS}, max_attempts=1)
    wait_until(lambda: dev.status(task_id) == "failed", message="the task to fail")

    for path in (f"/tasks/{task_id}", "/dead-letters", "/tasks?type=explode"):
        page.goto(dev.url + path)
        assert page.evaluate("window.__pwned") is None, f"markup ran on {path}"
        assert page.locator("script:not([src])").count() == 0

    page.goto(dev.url + f"/tasks/{task_id}")
    expect(page.locator('pre[data-field="payload"]')).to_contain_text(XSS)
    expect(page.locator("details.attempt summary")).to_contain_text(f"boom {XSS}")
    assert page.locator("img[src=x]").count() == 0


@SQLITE_ONLY
def test_a_task_is_found_by_id_and_by_idempotency_key(dev: DevServer, page: Page) -> None:
    task_id = dev.submit("run", payload={"key": "k"}, idempotency_key="order-42")

    page.goto(dev.url + "/tasks")
    page.get_by_label("find").fill("order-42")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("p.mono.subtle")).to_have_text(task_id)

    page.goto(dev.url + "/tasks")
    page.get_by_label("find").fill(task_id)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{dev.url}/tasks/{task_id}")

    page.goto(dev.url + "/tasks")
    page.get_by_label("find").fill("no-such-thing")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".notice")).to_contain_text("No task has id or idempotency key")


@SQLITE_ONLY
def test_the_workers_and_schedules_pages_show_the_running_app(dev: DevServer, page: Page) -> None:
    page.goto(dev.url + "/workers")
    # `conveyor dev` runs a worker and a push dispatcher, and both register.
    expect(page.locator("tr.worker-alive")).to_have_count(2)
    row = page.locator("tr.worker-alive", has_text="default, other")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(str(dev.process.pid))

    page.goto(dev.url + "/schedules")
    expect(page.locator("tbody tr")).to_contain_text("new-year")
    expect(page.locator("tbody tr")).to_contain_text("0 3 1 1 *")
    expect(page.locator("tbody tr")).to_contain_text("skip")


@SQLITE_ONLY
def test_a_workflow_member_shows_the_graph_around_it(
    dev: DevServer, page: Page, store_url: str, artifacts: Path
) -> None:
    producer = Conveyor(store_url)
    add, collect = producer.task(sink_app.add), producer.task(sink_app.collect)
    handle = chord(group([add.s(1, 2), add.s(3, 4)]), collect.s()).enqueue(producer)
    first, _, callback = (t.id for t in handle.tasks)
    producer.close()
    wait_until(lambda: dev.status(callback) == "completed", message="the chord to finish")

    page.goto(dev.url + f"/tasks/{first}")

    graph = page.locator(".workflow")
    expect(graph.locator(".layer")).to_have_count(2)
    expect(graph.locator(".layer").nth(0).locator(".node")).to_have_count(2)
    expect(graph.locator(".layer").nth(1).locator(".node")).to_have_attribute("data-task", callback)
    expect(graph.locator(".node.current")).to_have_attribute("data-task", first)
    expect(graph.locator(".around")).to_contain_text("nothing: it starts the workflow")
    page.screenshot(path=artifacts / "task-workflow-light-laptop.png", full_page=True)

    page.locator(f'.layer .node[data-task="{callback}"]').click()
    expect(page).to_have_url(f"{dev.url}/tasks/{callback}")
    expect(page.locator('pre[data-field="result"]')).to_have_text("[\n  3,\n  7\n]")
    expect(page.locator(".workflow .around a.node")).to_have_count(2)


@SQLITE_ONLY
def test_screenshots_of_every_page(
    dev: DevServer, browser: Browser, sink: SinkFile, artifacts: Path, backend: str
) -> None:
    """Every page, light and dark, saved for people to look at."""
    ran = [dev.submit("run", payload={"key": f"s{i}"}) for i in range(4)]
    dead = dev.submit("explode", payload={"key": "shot"}, max_attempts=1)
    dev.submit("run", payload={"key": "later"}, delay_seconds=600)
    dev.submit("elsewhere", payload={"key": "e"})
    wait_until(lambda: all(dev.status(t) == "completed" for t in ran), message="tasks to run")
    wait_until(lambda: dev.status(dead) == "failed", message="the dead letter")
    pages = {
        "overview": "/",
        "queue": "/queues/default",
        "tasks": "/tasks",
        "task": f"/tasks/{dead}",
        "dead-letters": "/dead-letters",
        "schedules": "/schedules",
        "workers": "/workers",
    }
    for scheme in ("light", "dark"):
        for size_name, size in (("laptop", LAPTOP), ("phone", PHONE)):
            context = browser.new_context(viewport=size, color_scheme=scheme)
            page = context.new_page()
            for name, path in pages.items():
                if size_name == "phone" and name not in ("overview", "task"):
                    continue
                page.goto(dev.url + path)
                expect(page.locator("main h1").first).to_be_visible()
                page.screenshot(path=artifacts / f"{name}-{scheme}-{size_name}.png", full_page=True)
            context.close()
    assert len(list(artifacts.glob("*.png"))) >= 2 * (len(pages) + 2)
